// CUDA max pooling: forward in max_pool.cuh (one thread per output). Backward depends on the
// windows: disjoint ones (stride >= kernel, the Net's 2x2/2) gather, one thread per input element
// writing its gradient or zero, so there is no separate zero-fill and the writes are coalesced;
// overlapping ones zero grad_x and scatter each output's gradient with atomicAdd. The fused
// pool + bias + relu's backward gathers and reduces the bias gradient in the same launch. The
// index arithmetic divides by PoolDivisors (max_pool.cuh): multiply-shifts while indices fit 31 bits.
#include <algorithm>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/max_pool.cuh>
#include <ember/kernels/cuda/reduce_utils.cuh>
#include <ember/kernels/pool.h>

namespace ember::kernels::cuda {

namespace {

// Disjoint windows: input (h, w) of plane p can only lie in window (oh, ow) = ((h + ph) / sh,
// (w + pw) / sw), and does when that output exists (oh < P, ow < Q) and (h + ph) - oh sh < kh
// (likewise for w):
//   grad_x[p, h, w] = grad_out[p, oh, ow] if indices[p, oh, ow] == h W + w, else 0
// (an index of -1, where the fused relu cut the gradient, matches no input).
template <typename T, typename Div>
__device__ __forceinline__ T gathered_grad(const detail::PoolGeometry& g, const detail::PoolDivisors<Div>& div,
                                           const T* __restrict__ grad_out, const int64_t* __restrict__ indices,
                                           int64_t plane, typename Div::Index at) {
  using I = typename Div::Index;
  const I h = div.width.div(at);
  const I hp = h + static_cast<I>(g.ph), wp = at - h * static_cast<I>(g.W) + static_cast<I>(g.pw);  // padded
  const int64_t oh = div.stride_h.div(hp), ow = div.stride_w.div(wp);
  if (oh < g.P && ow < g.Q && int64_t(hp) - oh * g.sh < g.kh && int64_t(wp) - ow * g.sw < g.kw) {
    const int64_t o = (plane * g.P + oh) * g.Q + ow;
    if (indices[o] == static_cast<int64_t>(at)) return grad_out[o];
  }
  return T(0);
}

// One thread per input element, grid-stride.
template <typename T, typename Div>
__global__ void max_pool2d_backward_gather_kernel(int64_t inputs, detail::PoolGeometry g, detail::PoolDivisors<Div> div,
                                                  const T* __restrict__ grad_out, const int64_t* __restrict__ indices,
                                                  T* __restrict__ grad_x) {
  using I = typename Div::Index;
  const I n = static_cast<I>(inputs);
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I plane = div.plane.div(i), at = i - plane * static_cast<I>(g.H * g.W);
    grad_x[i] = gathered_grad(g, div, grad_out, indices, plane, at);
  }
}

// Ticket counters of max_pool2d_bias_backward_kernel (reduce_utils.cuh, last_block_to_finish).
__device__ unsigned int g_pool_block_tickets[kBlockTicketSlots];

// Disjoint windows with the bias gradient of max_pool2d_relu(x, k, bias), one launch for both:
//   grad_x[n, c, h, w] as in the gather kernel above, and
//   grad_bias[c] = sum_{n, p, q : index >= 0} grad_out[n, c, p, q] = sum_{n, h, w} grad_x[n, c, h, w]
// (a surviving output's gradient lands on exactly one input, inside its own window; disjoint
// windows share no input, so the sum over grad_x counts each once; index >= 0 is exactly out > 0).
// Block b works on channel c = b / slices, slice s = b % slices: the channel's N*H*W inputs
// j = n*H*W + h*W + w from s*blockDim + t in steps of slices*blockDim, so the block's reads and
// writes run along rows of one plane (coalesced). One slice: the block writes grad_bias[c]
// itself. More: partials[b], and the last block to finish sums each channel's partials in slice
// order (a warp per channel, a fixed order whichever block that is: bit-identical run to run).
template <typename T, typename Div>
__global__ void max_pool2d_bias_backward_kernel(detail::PoolGeometry g, detail::PoolDivisors<Div> div, int64_t batch,
                                                int slices,
                                                const T* __restrict__ grad_out, const int64_t* __restrict__ indices,
                                                T* __restrict__ grad_x, T* __restrict__ partials,
                                                T* __restrict__ grad_bias, int ticket_slot) {
  __shared__ T scratch[kWarpSize];
  const int64_t c = blockIdx.x / slices, slice = blockIdx.x % slices;
  const int64_t plane_size = g.H * g.W, channel_inputs = batch * plane_size;
  T sum = T(0);
  using I = typename Div::Index;
  for (int64_t j = slice * blockDim.x + threadIdx.x; j < channel_inputs; j += static_cast<int64_t>(slices) * blockDim.x) {
    const I image = div.plane.div(static_cast<I>(j)), at = static_cast<I>(j) - image * static_cast<I>(plane_size);
    const int64_t plane = int64_t(image) * g.C + c;
    const T grad = gathered_grad(g, div, grad_out, indices, plane, at);
    grad_x[plane * plane_size + at] = grad;
    sum += grad;
  }
  sum = block_allreduce(sum, SumOp{}, T(0), scratch);
  if (slices == 1) {
    if (threadIdx.x == 0) grad_bias[c] = sum;
    return;
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
  if (!last_block_to_finish(&g_pool_block_tickets[ticket_slot])) return;
  const volatile T* done = partials;
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize, warps = blockDim.x / kWarpSize;
  for (int64_t channel = warp; channel < g.C; channel += warps) {
    T total = T(0);
    for (int k = lane; k < slices; k += kWarpSize) total += done[channel * slices + k];
    total = warp_reduce(total, SumOp{});
    if (lane == 0) grad_bias[channel] = total;
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
      detail::with_pool_divisors(g, inputs, [&](auto div) {
        max_pool2d_backward_gather_kernel<T><<<grid_size(inputs), kBlockSize, 0, stream>>>(inputs, g, div, pg, pi, pdx);
      });
    } else {
      EMBER_CUDA_CHECK(cudaMemsetAsync(pdx, 0, grad_x.nbytes(), stream));
      if (g.outputs == 0) return;
      max_pool2d_backward_scatter_kernel<T><<<grid_size(g.outputs), kBlockSize, 0, stream>>>(g.outputs, g.P * g.Q,
                                                                                           g.H * g.W, pg, pi, pdx);
    }
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

// How many blocks share a channel. One block per channel needs no combining, but the Net's
// channels are few: N=100, C=10 at 24x24 (57600 inputs a channel) and C=20 at 8x8 (6400): 10 or
// 20 blocks would leave all but 10-20 of an H100's 132 SMs idle and walk 225 (25) elements per
// thread in series. So the channel is cut into slices until the grid has the block count of an
// elementwise pass over the same inputs (grid_size: 2250 and 500 blocks there, one element a
// thread), and the partials are combined by the last block (one extra pass over C*slices values,
// 2250 or 500: a few loads per lane). A channel of at most one block's worth, or a stream without
// a ticket slot, takes one block per channel.
void max_pool2d_backward_with_bias(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,
                                   const Tensor& grad_bias, const PoolParams& params) {
  const int64_t batch = grad_x.size(0), channels = grad_x.size(1);
  if (channels == 0) return;
  cudaStream_t stream = stream_of(grad_x);
  const detail::PoolGeometry g = detail::pool_geometry(grad_x, grad_out, params);
  const int64_t channel_inputs = batch * g.H * g.W;
  const int ticket_slot = block_ticket_slot(grad_x.device().index, stream);
  int64_t slices = (static_cast<int64_t>(grid_size(grad_x.numel())) + channels - 1) / channels;
  slices = std::min(slices, (channel_inputs + kBlockSize - 1) / kBlockSize);
  if (slices < 1 || ticket_slot < 0) slices = 1;
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward_with_bias", [&](auto tag) {
    using T = decltype(tag);
    Tensor partials;  // freed on this stream after the launch: the caching allocator orders reuse
    if (slices > 1) partials = empty({channels * slices}, TensorOptions(grad_x.dtype()).with_device(grad_x.device()));
    detail::with_pool_divisors(g, grad_x.numel(), [&](auto div) {
      max_pool2d_bias_backward_kernel<T><<<static_cast<unsigned>(channels * slices), kBlockSize, 0, stream>>>(
          g, div, batch, static_cast<int>(slices), static_cast<const T*>(grad_out.data_ptr()),
          static_cast<const int64_t*>(indices.data_ptr()), static_cast<T*>(grad_x.data_ptr()),
          partials.defined() ? static_cast<T*>(partials.data_ptr()) : nullptr, static_cast<T*>(grad_bias.data_ptr()),
          ticket_slot);
    });
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
