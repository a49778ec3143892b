// CUDA kernels of kernels/dropout.h: a thread per Philox counter (four elements), grid-stride.
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/dropout.h>
#include <ember/kernels/philox.h>

namespace ember::kernels::cuda {

namespace {

// for k < 4: i = 4c + k, keep = uniform_float(philox(seed, offset + c)[k]) >= p,
// mask[i] = keep, out[i] = keep ? in[i] * scale : 0
template <typename T>
__global__ void dropout_kernel(int64_t n, const T* __restrict__ in, T* __restrict__ out, uint8_t* __restrict__ mask,
                               float threshold, T scale, uint64_t seed, uint64_t offset) {
  int64_t counters = (n + 3) / 4;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < counters;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Philox4 r = philox(seed, offset + c);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      int64_t i = c * 4 + k;
      if (i < n) {
        bool keep = uniform_float(r.v[k]) >= threshold;
        mask[i] = keep;
        out[i] = keep ? in[i] * scale : T(0);
      }
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
    dropout_kernel<T><<<grid_size((n + 3) / 4), kBlockSize, 0, stream_of(in)>>>(
        n, static_cast<const T*>(in.data_ptr()), static_cast<T*>(out.data_ptr()), static_cast<uint8_t*>(mask.data_ptr()),
        static_cast<float>(p), static_cast<T>(scale), seed, offset);
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
