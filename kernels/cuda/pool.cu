// CUDA max pooling: forward in max_pool.cuh (one thread per output); backward scatters each
// output's gradient to its saved argmax, with a plain store when windows cannot overlap (each
// input then belongs to at most one window) and atomicAdd when they can.
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/max_pool.cuh>
#include <ember/kernels/pool.h>

namespace ember::kernels::cuda {

namespace {

// grad_x[plane, index[o]] (+)= grad_out[o] for every output o with index[o] >= 0; grad_x is
// zeroed before. kAtomic when several outputs may hit the same input.
template <typename T, bool kAtomic>
__global__ void max_pool2d_backward_kernel(int64_t outputs, int64_t outputs_per_plane, int64_t inputs_per_plane,
                                           const T* __restrict__ grad_out, const int64_t* __restrict__ indices,
                                           T* __restrict__ grad_x) {
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t at = indices[o];
    if (at < 0) continue;
    T* target = grad_x + (o / outputs_per_plane) * inputs_per_plane + at;
    if constexpr (kAtomic) atomicAdd(target, grad_out[o]);
    else *target = grad_out[o];
  }
}

}  // namespace

void max_pool2d_forward(const Tensor& x, const Tensor& out, const Tensor& indices, const PoolParams& params) {
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    detail::launch_max_pool2d_forward<decltype(tag), false>(x, out, indices, params);
  });
}

void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,
                         const PoolParams& params) {
  cudaStream_t stream = stream_of(grad_x);
  EMBER_CUDA_CHECK(cudaMemsetAsync(grad_x.data_ptr(), 0, grad_x.nbytes(), stream));
  const int64_t outputs = grad_out.numel();
  if (outputs == 0) return;
  const int64_t per_plane_out = grad_out.size(2) * grad_out.size(3), per_plane_in = grad_x.size(2) * grad_x.size(3);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* pi = static_cast<const int64_t*>(indices.data_ptr());
    T* pdx = static_cast<T*>(grad_x.data_ptr());
    if (params.windows_overlap())
      max_pool2d_backward_kernel<T, true><<<grid_size(outputs), kBlockSize, 0, stream>>>(outputs, per_plane_out,
                                                                                          per_plane_in, pg, pi, pdx);
    else
      max_pool2d_backward_kernel<T, false><<<grid_size(outputs), kBlockSize, 0, stream>>>(outputs, per_plane_out,
                                                                                           per_plane_in, pg, pi, pdx);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
