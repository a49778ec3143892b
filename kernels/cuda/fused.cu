// CUDA fused kernels: bias + relu forward (one grid-stride pass), its backward (relu mask and the
// bias-gradient reduction in one pass: warp shuffles, then one atomicAdd per block and channel),
// and max-pool + relu (max_pool.cuh with the relu folded in).
#include <algorithm>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/max_pool.cuh>
#include <ember/kernels/fused.h>

namespace ember::kernels::cuda {

namespace {

// out[i] = max(x[i] + bias[c(i)], 0), c(i) = (i / inner) % channels.
template <typename T>
__global__ void bias_relu_forward_kernel(int64_t n, int64_t channels, int64_t inner, const T* __restrict__ x,
                                         const T* __restrict__ bias, T* __restrict__ out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T y = x[i] + bias[(i / inner) % channels];
    out[i] = y > T(0) ? y : T(0);
  }
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024); valid in thread 0.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T warp_sums[32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? warp_sums[lane] : T(0);
  if (warp == 0)
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Channel c = blockIdx.y; the blocks along x split that channel's outer * inner elements.
//   gx[j] = g[j] * (y[j] > 0),   grad_bias[c] += sum of this block's gx (grad_bias zeroed before),
// or grad_bias[c] = that sum when one block covers the channel (gridDim.x == 1: no zeroing needed).
template <typename T>
__global__ void bias_relu_backward_kernel(int64_t outer, int64_t channels, int64_t inner, const T* __restrict__ g,
                                          const T* __restrict__ y, T* __restrict__ grad_x, T* __restrict__ grad_bias) {
  const int64_t c = blockIdx.y, per_channel = outer * inner;
  T partial = T(0);
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < per_channel;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = ((j / inner) * channels + c) * inner + j % inner;
    const T gx = y[i] > T(0) ? g[i] : T(0);
    if (grad_x) grad_x[i] = gx;
    partial += gx;
  }
  if (!grad_bias) return;
  const T total = block_sum(partial);
  if (threadIdx.x != 0) return;
  if (gridDim.x == 1) grad_bias[c] = total;
  else atomicAdd(grad_bias + c, total);
}

}  // namespace

void bias_relu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) {
  const ChannelView v = channel_view(x);
  const int64_t n = x.numel();
  dispatch_floating(x.dtype(), "bias_relu", [&](auto tag) {
    using T = decltype(tag);
    bias_relu_forward_kernel<T><<<grid_size(n), kBlockSize, 0, stream_of(out)>>>(
        n, v.channels, v.inner, static_cast<const T*>(x.data_ptr()), static_cast<const T*>(bias.data_ptr()),
        static_cast<T*>(out.data_ptr()));
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void bias_relu_backward(const Tensor& grad_out, const Tensor& out, const Tensor& grad_x, const Tensor& grad_bias) {
  const ChannelView v = channel_view(out);
  cudaStream_t stream = stream_of(out);
  const int64_t per_channel = v.outer * v.inner;
  if (per_channel == 0 || v.channels == 0) {
    if (grad_bias.defined()) EMBER_CUDA_CHECK(cudaMemsetAsync(grad_bias.data_ptr(), 0, grad_bias.nbytes(), stream));
    return;
  }
  EMBER_CHECK(v.channels <= 65535, "bias_relu backward: at most 65535 channels on CUDA (one grid row each), got ",
              v.channels);
  // Up to kOneBlockPerChannel elements a channel (the Net's pooled conv outputs: 14400 and 1600),
  // one block sums a channel alone: one launch, no zero-fill, a deterministic sum, and ~60 loads a
  // thread. Larger channels get enough blocks to fill the device, adding partial sums atomically.
  constexpr int64_t kOneBlockPerChannel = int64_t(1) << 15;
  const int64_t blocks_per_channel =
      per_channel <= kOneBlockPerChannel
          ? 1
          : std::max<int64_t>(1, std::min<int64_t>((per_channel + kBlockSize - 1) / kBlockSize,
                                                   grid_size(per_channel * v.channels) / v.channels + 1));
  dim3 grid(static_cast<unsigned>(blocks_per_channel), static_cast<unsigned>(v.channels));
  if (grad_bias.defined() && blocks_per_channel > 1)
    EMBER_CUDA_CHECK(cudaMemsetAsync(grad_bias.data_ptr(), 0, grad_bias.nbytes(), stream));
  dispatch_floating(out.dtype(), "bias_relu_backward", [&](auto tag) {
    using T = decltype(tag);
    bias_relu_backward_kernel<T><<<grid, kBlockSize, 0, stream>>>(
        v.outer, v.channels, v.inner, static_cast<const T*>(grad_out.data_ptr()), static_cast<const T*>(out.data_ptr()),
        grad_x.defined() ? static_cast<T*>(grad_x.data_ptr()) : nullptr,
        grad_bias.defined() ? static_cast<T*>(grad_bias.data_ptr()) : nullptr);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void max_pool2d_relu_forward(const Tensor& x, const Tensor& bias, const Tensor& out, const Tensor& indices,
                             const PoolParams& params) {
  dispatch_floating(x.dtype(), "max_pool2d_relu", [&](auto tag) {
    detail::launch_max_pool2d_forward<decltype(tag), true>(x, bias, out, indices, params);
  });
}

}  // namespace ember::kernels::cuda
