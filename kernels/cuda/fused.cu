// CUDA fused kernels: bias + relu forward (one grid-stride pass), its backward (relu mask and the
// bias-gradient reduction in one pass) and max-pool + relu (max_pool.cuh with the relu folded in).
// The backward reads the layout (outer, channels, inner) one of two ways:
//   inner >= 32 (convolution maps): a block row per channel, runs of `inner` contiguous elements;
//   inner < 32 (a Linear's (N, C)):  as a matrix (outer, channels * inner) whose columns a warp
//                                    reads 128 contiguous bytes at a time, the column reduction of
//                                    reduce.cu, partial sums folded per channel in a second launch.
#include <algorithm>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/max_pool.cuh>
#include <ember/kernels/cuda/reduce_utils.cuh>
#include <ember/kernels/fast_divmod.h>
#include <ember/kernels/fused.h>

namespace ember::kernels::cuda {

namespace {

// out[i] = max(x[i] + bias[c(i)], 0), c(i) = (i / inner) % channels (Div: fast_divmod.h).
template <typename T, typename Div>
__global__ void bias_relu_forward_kernel(int64_t n, Div channels, Div inner, const T* __restrict__ x,
                                         const T* __restrict__ bias, T* __restrict__ out) {
  using I = typename Div::Index;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < static_cast<I>(n);
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const T y = x[i] + bias[channels.mod(inner.div(i))];
    out[i] = y < T(0) ? T(0) : y;  // NaN passes, as in PyTorch
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
    const T gx = y[i] <= T(0) ? T(0) : g[i];
    if (grad_x) grad_x[i] = gx;
    partial += gx;
  }
  if (!grad_bias) return;
  const T total = block_sum(partial);
  if (threadIdx.x != 0) return;
  if (gridDim.x == 1) grad_bias[c] = total;
  else atomicAdd(grad_bias + c, total);
}

// The same on the matrix (rows, cols) = (outer, channels * inner): a block per 32 adjacent columns
// (threadIdx.x) and slice of rows [blockIdx.y * slice, ... + slice) (threadIdx.y strides it);
//   gx[r, col] = g[r, col] * (y[r, col] > 0),
//   column_sums[blockIdx.y, col] = sum of gx[r, col] over the slice's rows,
// or grad_bias[col] directly when one slice covers the rows and inner == 1 (neither without a bias
// gradient: column_sums and grad_bias null).
template <typename T>
__global__ void bias_relu_backward_columns(int64_t rows, int64_t cols, int64_t slice, bool direct, const T* __restrict__ g,
                                           const T* __restrict__ y, T* __restrict__ grad_x, T* __restrict__ column_sums,
                                           T* __restrict__ grad_bias) {
  __shared__ T fold[kColumnRows][kWarpSize];
  const int64_t begin = blockIdx.y * slice, end = begin + slice < rows ? begin + slice : rows;
  for (int64_t tile = blockIdx.x; tile * kWarpSize < cols; tile += gridDim.x) {
    const int64_t col = tile * kWarpSize + threadIdx.x;
    T sum = T(0);
    if (col < cols)
      for (int64_t r = begin + threadIdx.y; r < end; r += kColumnRows) {
        const int64_t i = r * cols + col;
        const T gx = y[i] <= T(0) ? T(0) : g[i];
        if (grad_x) grad_x[i] = gx;
        sum += gx;
      }
    fold[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
      for (int k = 1; k < kColumnRows; ++k) sum += fold[k][threadIdx.x];
      if (direct) grad_bias[col] = sum;
      else if (column_sums) column_sums[blockIdx.y * cols + col] = sum;
    }
    __syncthreads();  // fold is free for the next tile
  }
}

// grad_bias[c] = sum over slices s and i < inner of column_sums[s, c * inner + i], a warp per
// channel (lanes take terms t, t + 32, ...; the shuffle tree then fixes the order).
template <typename T>
__global__ void fold_bias_sums(const T* __restrict__ column_sums, int64_t splits, int64_t channels, int64_t inner,
                               T* __restrict__ grad_bias) {
  WarpPerRow group;
  const int64_t cols = channels * inner, terms = splits * inner;
  for (int64_t c = group.first_row(); c < channels; c += group.row_step()) {
    T sum = T(0);
    for (int64_t t = group.rank(); t < terms; t += kWarpSize) sum += column_sums[(t / inner) * cols + c * inner + t % inner];
    sum = warp_reduce(sum, SumOp{});
    if (group.rank() == 0) grad_bias[c] = sum;
  }
}

// bias_relu_backward for inner < 32 (see the top of the file).
template <typename T>
void launch_bias_relu_backward_columns(const ChannelView& v, const T* g, const T* y, T* grad_x, T* grad_bias,
                                       const Tensor& like, cudaStream_t stream) {
  const int64_t cols = v.channels * v.inner, tiles = (cols + kWarpSize - 1) / kWarpSize;
  Slicing s{1, v.outer};
  // A slice gives each thread 16 rows at least; gridDim.y is at most 65535.
  if (tiles < blocks_to_fill_device()) s = slice_reduced_axis(tiles, v.outer, 16 * kColumnRows, 1, 65535);
  const bool direct = s.splits == 1 && v.inner == 1;
  Tensor column_sums;  // freed on this stream after the launches: the caching allocator orders reuse
  if (grad_bias && !direct) column_sums = empty({s.splits * cols}, TensorOptions(like.dtype()).with_device(like.device()));
  T* sums = column_sums.defined() ? static_cast<T*>(column_sums.data_ptr()) : nullptr;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles, device_sm_count() * 32)), static_cast<unsigned>(s.splits));
  bias_relu_backward_columns<T><<<grid, dim3(kWarpSize, kColumnRows), 0, stream>>>(
      v.outer, cols, s.slice, direct && grad_bias, g, y, grad_x, sums, grad_bias);
  EMBER_CUDA_CHECK_LAUNCH();
  if (grad_bias && !direct) {
    fold_bias_sums<T><<<grid_size(v.channels * kWarpSize), kBlockSize, 0, stream>>>(sums, s.splits, v.channels, v.inner, grad_bias);
    EMBER_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void bias_relu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) {
  const ChannelView v = channel_view(x);
  const int64_t n = x.numel();
  dispatch_floating(x.dtype(), "bias_relu", [&](auto tag) {
    using T = decltype(tag);
    with_divmod(n, [&](auto div_tag) {
      using Div = decltype(div_tag);
      bias_relu_forward_kernel<T><<<grid_size(n), kBlockSize, 0, stream_of(out)>>>(
          n, Div(v.channels), Div(v.inner), static_cast<const T*>(x.data_ptr()), static_cast<const T*>(bias.data_ptr()),
          static_cast<T*>(out.data_ptr()));
    });
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
  if (v.inner < kWarpSize) {
    dispatch_floating(out.dtype(), "bias_relu_backward", [&](auto tag) {
      using T = decltype(tag);
      launch_bias_relu_backward_columns<T>(v, static_cast<const T*>(grad_out.data_ptr()),
                                           static_cast<const T*>(out.data_ptr()),
                                           grad_x.defined() ? static_cast<T*>(grad_x.data_ptr()) : nullptr,
                                           grad_bias.defined() ? static_cast<T*>(grad_bias.data_ptr()) : nullptr, out,
                                           stream);
    });
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
