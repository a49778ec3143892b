// CUDA kernels of kernels/dropout.h: a thread per Philox counter (four elements), grid-stride.
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/dropout.h>
#include <ember/kernels/philox.h>

namespace ember::kernels::cuda {

namespace {

// One element of a counter's four: keep = uniform_float(word) >= p, mask = keep,
// out = keep ? in * scale : 0.
template <typename T>
__device__ __forceinline__ T drop(T in, uint32_t word, float threshold, T scale, uint8_t* keep_out) {
  const bool keep = uniform_float(word) >= threshold;
  *keep_out = keep;
  return keep ? in * scale : T(0);
}

// Elements 4c .. 4c + 3 draw words 0..3 of philox(seed, offset + c). kAligned: in and out are
// aligned to four elements and mask to four bytes, so a counter's elements move as one vector
// load and two vector stores; otherwise (a view starting mid-pack) one element at a time.
template <typename T, bool kAligned>
__global__ void dropout_kernel(int64_t n, const T* __restrict__ in, T* __restrict__ out, uint8_t* __restrict__ mask,
                               float threshold, T scale, uint64_t seed, uint64_t offset) {
  int64_t counters = (n + 3) / 4;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < counters;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = philox(seed, offset + c);
    const int64_t base = c * 4;
    if (kAligned && base + 4 <= n) {
      const Pack<T, 4> x = *reinterpret_cast<const Pack<T, 4>*>(in + base);
      Pack<T, 4> y;
      Pack<uint8_t, 4> keep;
#pragma unroll
      for (int k = 0; k < 4; ++k) y.v[k] = drop(x.v[k], r.v[k], threshold, scale, &keep.v[k]);
      *reinterpret_cast<Pack<T, 4>*>(out + base) = y;
      *reinterpret_cast<Pack<uint8_t, 4>*>(mask + base) = keep;
    } else {
      for (int k = 0; k < 4 && base + k < n; ++k)
        out[base + k] = drop(in[base + k], r.v[k], threshold, scale, &mask[base + k]);
    }
  }
}

// grad_in[i] = mask[i] ? grad[i] * scale : 0
template <typename T>
__global__ void dropout_backward_kernel(int64_t n, const T* __restrict__ grad, const uint8_t* __restrict__ mask,
                                        T* __restrict__ grad_in, T scale) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    grad_in[i] = mask[i] ? grad[i] * scale : T(0);
}

}  // namespace

void dropout_forward(const Tensor& in, const Tensor& out, const Tensor& mask, double p, double scale, uint64_t seed,
                     uint64_t offset) {
  int64_t n = in.numel();
  if (n == 0) return;
  dispatch_floating(in.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const auto* pin = static_cast<const T*>(in.data_ptr());
    auto* pout = static_cast<T*>(out.data_ptr());
    auto* pmask = static_cast<uint8_t*>(mask.data_ptr());
    const bool aligned = is_aligned(pin, 4 * sizeof(T)) && is_aligned(pout, 4 * sizeof(T)) && is_aligned(pmask, 4);
    const int grid = grid_size((n + 3) / 4);
    if (aligned)
      dropout_kernel<T, true><<<grid, kBlockSize, 0, stream_of(in)>>>(n, pin, pout, pmask, static_cast<float>(p),
                                                                        static_cast<T>(scale), seed, offset);
    else
      dropout_kernel<T, false><<<grid, kBlockSize, 0, stream_of(in)>>>(n, pin, pout, pmask, static_cast<float>(p),
                                                                         static_cast<T>(scale), seed, offset);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void dropout_backward(const Tensor& grad, const Tensor& mask, const Tensor& grad_in, double scale) {
  int64_t n = grad.numel();
  if (n == 0) return;
  dispatch_floating(grad.dtype(), "dropout_backward", [&](auto tag) {
    using T = decltype(tag);
    dropout_backward_kernel<T><<<grid_size(n), kBlockSize, 0, stream_of(grad)>>>(
        n, static_cast<const T*>(grad.data_ptr()), static_cast<const uint8_t*>(mask.data_ptr()),
        static_cast<T*>(grad_in.data_ptr()), static_cast<T>(scale));
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
