// CUDA kernels of kernels/index.h, grid-stride over the gathered side. The scatter-add uses
// atomicAdd because repeated indices send several gradients to one element. Indices on the device
// are not read back for a host check (that would synchronise every training step's batch gather):
// an out-of-range index traps the kernel instead, which the next CUDA call reports as a launch
// failure, like PyTorch's device-side assert.
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/index.h>

namespace ember::kernels::cuda {

namespace {

// out[o, k, i] = in[o, index[k], i]
template <typename T>
__global__ void index_select_kernel(const T* __restrict__ in, const int64_t* __restrict__ index, T* __restrict__ out,
                                    int64_t outer, int64_t picks, int64_t in_size, int64_t inner) {
  int64_t n = outer * picks * inner;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t i = j % inner, k = (j / inner) % picks, o = j / (inner * picks);
    const int64_t pick = index[k];
    if (pick < 0 || pick >= in_size) __trap();
    out[j] = in[(o * in_size + pick) * inner + i];
  }
}

// grad_in[o, index[k], i] += grad[o, k, i]
template <typename T>
__global__ void index_add_kernel(const T* __restrict__ grad, const int64_t* __restrict__ index, T* __restrict__ grad_in,
                                 int64_t outer, int64_t picks, int64_t in_size, int64_t inner) {
  int64_t n = outer * picks * inner;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t i = j % inner, k = (j / inner) % picks, o = j / (inner * picks);
    const int64_t pick = index[k];
    if (pick < 0 || pick >= in_size) __trap();
    atomicAdd(grad_in + (o * in_size + pick) * inner + i, grad[j]);
  }
}

}  // namespace

void index_select(const Tensor& in, const Tensor& index, const Tensor& out, int64_t outer, int64_t inner) {
  int64_t n = out.numel();
  if (n == 0) return;
  int64_t picks = index.numel(), in_size = in.numel() / (outer * inner);
  dispatch_all(in.dtype(), "index_select", [&](auto tag) {
    using T = decltype(tag);
    index_select_kernel<T><<<grid_size(n), kBlockSize, 0, stream_of(in)>>>(
        static_cast<const T*>(in.data_ptr()), static_cast<const int64_t*>(index.data_ptr()), static_cast<T*>(out.data_ptr()),
        outer, picks, in_size, inner);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void index_add(const Tensor& grad, const Tensor& index, const Tensor& grad_in, int64_t outer, int64_t inner) {
  int64_t n = grad.numel();
  if (n == 0) return;
  int64_t picks = index.numel(), in_size = grad_in.numel() / (outer * inner);
  dispatch_floating(grad.dtype(), "index_add", [&](auto tag) {
    using T = decltype(tag);
    index_add_kernel<T><<<grid_size(n), kBlockSize, 0, stream_of(grad)>>>(
        static_cast<const T*>(grad.data_ptr()), static_cast<const int64_t*>(index.data_ptr()),
        static_cast<T*>(grad_in.data_ptr()), outer, picks, in_size, inner);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
