// CUDA max pooling: forward in max_pool.cuh (one thread per output). Backward depends on the
// windows: disjoint ones (stride >= kernel, the Net's 2x2/2) gather, one thread per input element
// writing its gradient or zero, so there is no separate zero-fill and the writes are coalesced;
// overlapping ones zero grad_x and scatter each output's gradient with atomicAdd.
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/max_pool.cuh>
#include <ember/kernels/pool.h>

namespace ember::kernels::cuda {

namespace {

// Disjoint windows: input (h, w) of plane p can only lie in window (oh, ow) = ((h + ph) / sh,
// (w + pw) / sw), and does when that output exists (oh < P, ow < Q) and (h + ph) - oh sh < kh
// (likewise for w):
//   grad_x[p, h, w] = grad_out[p, oh, ow] if indices[p, oh, ow] == h W + w, else 0
// (an index of -1, where the fused relu cut the gradient, matches no input).
template <typename T>
__global__ void max_pool2d_backward_gather_kernel(int64_t inputs, detail::PoolGeometry g, const T* __restrict__ grad_out,
                                                  const int64_t* __restrict__ indices, T* __restrict__ grad_x) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < inputs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = i / (g.H * g.W), at = i % (g.H * g.W);
    const int64_t hp = at / g.W + g.ph, wp = at % g.W + g.pw;  // in padded coordinates
    const int64_t oh = hp / g.sh, ow = wp / g.sw;
    T grad = T(0);
    if (oh < g.P && ow < g.Q && hp - oh * g.sh < g.kh && wp - ow * g.sw < g.kw) {
      const int64_t o = (plane * g.P + oh) * g.Q + ow;
      if (indices[o] == at) grad = grad_out[o];
    }
    grad_x[i] = grad;
  }
}

// Overlapping windows: grad_x[plane, index[o]] += grad_out[o] for every output o with index[o] >= 0
// (grad_x zeroed before; several outputs may hit one input, hence atomicAdd).
template <typename T>
__global__ void max_pool2d_backward_scatter_kernel(int64_t outputs, int64_t outputs_per_plane,
                                                   int64_t inputs_per_plane, const T* __restrict__ grad_out,
                                                   const int64_t* __restrict__ indices, T* __restrict__ grad_x) {
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t at = indices[o];
    if (at >= 0) atomicAdd(grad_x + (o / outputs_per_plane) * inputs_per_plane + at, grad_out[o]);
  }
}

}  // namespace

void max_pool2d_forward(const Tensor& x, const Tensor& out, const Tensor& indices, const PoolParams& params) {
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    detail::launch_max_pool2d_forward<decltype(tag), false>(x, Tensor(), out, indices, params);
  });
}

void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,
                         const PoolParams& params) {
  cudaStream_t stream = stream_of(grad_x);
  const int64_t inputs = grad_x.numel();
  if (inputs == 0) return;
  const detail::PoolGeometry g = detail::pool_geometry(grad_x, grad_out, params);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* pi = static_cast<const int64_t*>(indices.data_ptr());
    T* pdx = static_cast<T*>(grad_x.data_ptr());
    if (!params.windows_overlap()) {
      max_pool2d_backward_gather_kernel<T><<<grid_size(inputs), kBlockSize, 0, stream>>>(inputs, g, pg, pi, pdx);
    } else {
      EMBER_CUDA_CHECK(cudaMemsetAsync(pdx, 0, grad_x.nbytes(), stream));
      if (g.outputs == 0) return;
      max_pool2d_backward_scatter_kernel<T><<<grid_size(g.outputs), kBlockSize, 0, stream>>>(g.outputs, g.P * g.Q,
                                                                                           g.H * g.W, pg, pi, pdx);
    }
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
