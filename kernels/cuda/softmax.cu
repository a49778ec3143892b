// CUDA kernels of kernels/softmax.h. Rows (inner == 1) are handled by a thread each when they have
// at most kThreadRowLimit elements (the MNIST logits, N=100 x C=10), by a warp each up to
// kWarpRowLimit and by a block each otherwise; the max and the sums are warp-shuffle (and
// shared-memory) all-reduces. inner > 1 (softmax over a non-last dim) takes a thread per column.
// The cross-entropy gradient takes the same row groups: it recomputes the row max (the saved
// per-row lse is log sum exp(x - max), kept apart from the max, see kernels/softmax.h) and writes
// the row; the nll gradient is pointwise, a grid-stride elementwise loop. The mean/sum
// cross-entropy reduces its rows' losses in the same launch (last block combines).
#include <cmath>
#include <limits>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/reduce_utils.cuh>
#include <ember/kernels/fast_divmod.h>
#include <ember/kernels/softmax.h>

namespace ember::kernels::cuda {

namespace {

template <typename T>
__device__ __forceinline__ T quiet_nan() { return static_cast<T>(NAN); }

// m = max_c x[c], all-reduced over the row's group (every thread of the group gets it).
template <typename T, typename Group>
__device__ __forceinline__ T row_max(const Group& group, const T* __restrict__ x, int64_t cols, T lowest, T* scratch) {
  T m = lowest;
  for (int64_t c = group.rank(); c < cols; c += group.size()) m = MaxOp{}(m, x[c]);
  return group.allreduce(m, MaxOp{}, lowest, scratch);
}

// The two passes every row kernel starts with, all-reduced over the row's group (every thread of
// the group gets both): m = max_c x[c] and s = sum_c exp(x[c] - m), so that exp never overflows.
template <typename T>
struct RowExpSum {
  T max, sum;
};
template <typename T, typename Group>
__device__ __forceinline__ RowExpSum<T> row_exp_sum(const Group& group, const T* __restrict__ x, int64_t cols, T lowest,
                                                    T* scratch) {
  const T m = row_max(group, x, cols, lowest, scratch);
  T s = 0;
  for (int64_t c = group.rank(); c < cols; c += group.size()) s += device_exp(x[c] - m);
  s = group.allreduce(s, SumOp{}, T(0), scratch);
  return {m, s};
}

// y[row, c] = (x[row, c] - m) - log(s)  (log)   or   exp(x[row, c] - m) / s,
// with m = max_c x[row, c], s = sum_c exp(x[row, c] - m) (x - m first: m + log(s) would round at m's ulp)
template <typename T, typename Group>
__global__ void softmax_rows(const T* __restrict__ in, T* __restrict__ out, int64_t rows, int64_t cols, bool log, T lowest) {
  __shared__ T scratch[kWarpSize];
  Group group;
  for (int64_t row = group.first_row(); row < rows; row += group.row_step()) {
    const T* x = in + row * cols;
    T* y = out + row * cols;
    const RowExpSum<T> r = row_exp_sum(group, x, cols, lowest, scratch);
    const T m = r.max, s = r.sum;
    if (log) {
      const T log_s = device_log(s);
      for (int64_t c = group.rank(); c < cols; c += group.size()) y[c] = (x[c] - m) - log_s;
    } else {
      T inv = T(1) / s;
      for (int64_t c = group.rank(); c < cols; c += group.size()) y[c] = device_exp(x[c] - m) * inv;
    }
  }
}

// The same along the middle axis of [outer, C, inner], a thread per (o, i)
template <typename T>
__global__ void softmax_columns(const T* __restrict__ in, T* __restrict__ out, int64_t outer, int64_t classes,
                                int64_t inner, bool log, T lowest) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < outer * inner;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t base = (k / inner) * classes * inner + k % inner;
    T m = lowest;
    for (int64_t c = 0; c < classes; ++c) m = MaxOp{}(m, in[base + c * inner]);
    T s = 0;
    for (int64_t c = 0; c < classes; ++c) s += device_exp(in[base + c * inner] - m);
    T log_s = device_log(s), inv = T(1) / s;
    for (int64_t c = 0; c < classes; ++c) {
      T x = in[base + c * inner];
      out[base + c * inner] = log ? (x - m) - log_s : device_exp(x - m) * inv;
    }
  }
}

// gx = y * (g - sum_c g*y)   or (log)   gx = g - exp(y) * sum_c g
template <typename T, typename Group>
__global__ void softmax_backward_rows(const T* __restrict__ grad, const T* __restrict__ out, T* __restrict__ grad_in,
                                      int64_t rows, int64_t cols, bool log) {
  __shared__ T scratch[kWarpSize];
  Group group;
  for (int64_t row = group.first_row(); row < rows; row += group.row_step()) {
    const T* g = grad + row * cols;
    const T* y = out + row * cols;
    T* gx = grad_in + row * cols;
    T s = 0;
    for (int64_t c = group.rank(); c < cols; c += group.size()) s += log ? g[c] : g[c] * y[c];
    s = group.allreduce(s, SumOp{}, T(0), scratch);
    for (int64_t c = group.rank(); c < cols; c += group.size())
      gx[c] = log ? g[c] - device_exp(y[c]) * s : y[c] * (g[c] - s);
  }
}

template <typename T>
__global__ void softmax_backward_columns(const T* __restrict__ grad, const T* __restrict__ out, T* __restrict__ grad_in,
                                         int64_t outer, int64_t classes, int64_t inner, bool log) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < outer * inner;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t base = (k / inner) * classes * inner + k % inner;
    T s = 0;
    for (int64_t c = 0; c < classes; ++c) {
      int64_t j = base + c * inner;
      s += log ? grad[j] : grad[j] * out[j];
    }
    for (int64_t c = 0; c < classes; ++c) {
      int64_t j = base + c * inner;
      grad_in[j] = log ? grad[j] - device_exp(out[j]) * s : out[j] * (grad[j] - s);
    }
  }
}

// One row of the loss, called by every thread of the row's group; returns the loss in rank 0
// (0 in the others) and writes lse[row]:
//   lse[n] = log sum_c exp(x[n, c] - m), m = max_c x[n, c] (the log-sum-exp less m);
//   loss[n] = (m - x[n, t[n]]) + lse[n] (NaN when t[n] is out of range)
template <typename T, typename Group>
__device__ __forceinline__ T cross_entropy_row(const Group& group, const T* __restrict__ logits,
                                               const int64_t* __restrict__ target, T* __restrict__ lse, int64_t row,
                                               int64_t cols, T lowest, T* scratch) {
  const T* x = logits + row * cols;
  const RowExpSum<T> r = row_exp_sum(group, x, cols, lowest, scratch);
  if (group.rank() != 0) return T(0);
  const T log_s = device_log(r.sum);
  const int64_t t = target[row];
  lse[row] = log_s;
  return t >= 0 && t < cols ? (r.max - x[t]) + log_s : quiet_nan<T>();
}

// losses[n] = loss[n] of cross_entropy_row, a group (warp or block) per row
template <typename T, typename Group>
__global__ void cross_entropy_rows(const T* __restrict__ logits, const int64_t* __restrict__ target, T* __restrict__ losses,
                                   T* __restrict__ lse, int64_t rows, int64_t cols, T lowest) {
  __shared__ T scratch[kWarpSize];
  Group group;
  for (int64_t row = group.first_row(); row < rows; row += group.row_step()) {
    const T loss = cross_entropy_row(group, logits, target, lse, row, cols, lowest, scratch);
    if (group.rank() == 0) losses[row] = loss;
  }
}

// Ticket counters of cross_entropy_rows_reduced (reduce_utils.cuh, last_block_to_finish).
__device__ unsigned int g_loss_block_tickets[kBlockTicketSlots];

// The reduced loss in the same launch as the rows (no per-row losses, no second reduction pass):
//   total = (sum_n loss[n]) / divisor   (divisor N: the mean, 1: the sum), lse[n] as above.
// Each group adds its rows' losses in its rank-0 thread and the block sums its threads
// (block_allreduce: a fixed tree). One block writes total itself; several write partials[block],
// and the last block to finish sums them in block order, the same whichever block that is, so
// the result is bit-identical run to run (and in graph replays: the ticket resets itself).
template <typename T, typename Group>
__global__ void __launch_bounds__(1024) cross_entropy_rows_reduced(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                           T* __restrict__ lse, T* __restrict__ partials, T* __restrict__ total,
                                           int64_t rows, int64_t cols, T lowest, T divisor, int ticket_slot) {
  __shared__ T scratch[kWarpSize];
  Group group;
  T sum = T(0);
  for (int64_t row = group.first_row(); row < rows; row += group.row_step())
    sum += cross_entropy_row(group, logits, target, lse, row, cols, lowest, scratch);
  sum = block_allreduce(sum, SumOp{}, T(0), scratch);
  if (gridDim.x == 1) {
    if (threadIdx.x == 0) *total = sum / divisor;
    return;
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
  if (!last_block_to_finish(&g_loss_block_tickets[ticket_slot])) return;
  const volatile T* done = partials;
  T all = T(0);
  for (unsigned k = threadIdx.x; k < gridDim.x; k += blockDim.x) all += done[k];
  all = block_allreduce(all, SumOp{}, T(0), scratch);
  if (threadIdx.x == 0) *total = all / divisor;
}

// f(k, n, c) for this thread's elements k = n * cols + c of a rows x cols matrix, grid-stride
// (Div: fast_divmod.h, the one division per element).
template <typename Div, typename F>
__device__ __forceinline__ void for_each_row_column(int64_t rows, Div cols, F f) {
  using I = typename Div::Index;
  const I n_elements = static_cast<I>(rows * cols.divisor);
  for (I k = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; k < n_elements;
       k += static_cast<I>(gridDim.x) * blockDim.x) {
    const I n = cols.div(k);
    f(k, n, static_cast<int64_t>(k - n * cols.divisor));
  }
}

// gx[n, c] = (exp((x[n, c] - m) - lse[n]) - [c == t[n]]) * scale * g[n * grad_stride],
// m = max_c x[n, c] recomputed (lse[n] is the forward's log-sum-exp less m), a group per row
template <typename T, typename Group>
__global__ void cross_entropy_backward_rows(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                            const T* __restrict__ lse, const T* __restrict__ grad, int64_t grad_stride,
                                            T scale, T* __restrict__ grad_logits, int64_t rows, int64_t cols, T lowest) {
  __shared__ T scratch[kWarpSize];
  Group group;
  for (int64_t row = group.first_row(); row < rows; row += group.row_step()) {
    const T* x = logits + row * cols;
    T* gx = grad_logits + row * cols;
    const T m = row_max(group, x, cols, lowest, scratch);
    const int64_t t = target[row];
    const bool valid = t >= 0 && t < cols;
    const T g = scale * grad[row * grad_stride], log_s = lse[row];
    for (int64_t c = group.rank(); c < cols; c += group.size()) {
      const T p = device_exp((x[c] - m) - log_s);
      gx[c] = valid ? (p - (c == t ? T(1) : T(0))) * g : quiet_nan<T>();
    }
  }
}

// loss[n] = -lp[n, t[n]] (NaN when t[n] is out of range)
template <typename T>
__global__ void nll_forward_kernel(const T* __restrict__ log_probs, const int64_t* __restrict__ target, T* __restrict__ losses,
                                   int64_t rows, int64_t cols) {
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; n < rows;
       n += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t t = target[n];
    losses[n] = t >= 0 && t < cols ? -log_probs[n * cols + t] : quiet_nan<T>();
  }
}

// gx[n, c] = [c == t[n]] * -scale * g[n * grad_stride]
template <typename T, typename Div>
__global__ void nll_backward_kernel(const int64_t* __restrict__ target, const T* __restrict__ grad, int64_t grad_stride,
                                    T scale, T* __restrict__ grad_in, int64_t rows, Div cols) {
  for_each_row_column(rows, cols, [&](auto k, auto n, int64_t c) {
    const int64_t t = target[n];
    const T value = c == t ? -scale * grad[n * grad_stride] : T(0);
    grad_in[k] = t >= 0 && t < cols.divisor ? value : quiet_nan<T>();
  });
}

// Launches kernel<T, ThreadPerRow>, <T, WarpPerRow> or <T, BlockPerRow> over `rows` rows of `cols`.
template <typename Launch>
void launch_rows(int64_t rows, int64_t cols, Launch launch) {
  if (cols <= kThreadRowLimit) launch(ThreadPerRow{}, grid_size(rows));
  else if (cols <= kWarpRowLimit) launch(WarpPerRow{}, grid_size(rows * kWarpSize));
  else launch(BlockPerRow{}, grid_size(rows * kBlockSize));
}

}  // namespace

void softmax_forward(const Tensor& in, const Tensor& out, ReduceGeometry g, bool log) {
  if (out.numel() == 0) return;
  cudaStream_t stream = stream_of(in);
  dispatch_floating(in.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    auto* x = static_cast<const T*>(in.data_ptr());
    auto* y = static_cast<T*>(out.data_ptr());
    T lowest = -std::numeric_limits<T>::infinity();
    if (g.inner == 1) {
      launch_rows(g.outer, g.reduce, [&](auto group, int blocks) {
        softmax_rows<T, decltype(group)><<<blocks, kBlockSize, 0, stream>>>(x, y, g.outer, g.reduce, log, lowest);
      });
    } else {
      softmax_columns<T><<<grid_size(g.outer * g.inner), kBlockSize, 0, stream>>>(x, y, g.outer, g.reduce, g.inner, log, lowest);
    }
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_in, ReduceGeometry g, bool log) {
  if (grad_in.numel() == 0) return;
  cudaStream_t stream = stream_of(out);
  dispatch_floating(out.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    auto* gy = static_cast<const T*>(grad.data_ptr());
    auto* y = static_cast<const T*>(out.data_ptr());
    auto* gx = static_cast<T*>(grad_in.data_ptr());
    if (g.inner == 1) {
      launch_rows(g.outer, g.reduce, [&](auto group, int blocks) {
        softmax_backward_rows<T, decltype(group)><<<blocks, kBlockSize, 0, stream>>>(gy, y, gx, g.outer, g.reduce, log);
      });
    } else {
      softmax_backward_columns<T><<<grid_size(g.outer * g.inner), kBlockSize, 0, stream>>>(gy, y, gx, g.outer, g.reduce,
                                                                                           g.inner, log);
    }
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& losses, const Tensor& lse) {
  int64_t rows = logits.size(0), cols = logits.size(1);
  if (rows == 0) return;
  cudaStream_t stream = stream_of(logits);
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    launch_rows(rows, cols, [&](auto group, int blocks) {
      cross_entropy_rows<T, decltype(group)><<<blocks, kBlockSize, 0, stream>>>(
          static_cast<const T*>(logits.data_ptr()), static_cast<const int64_t*>(target.data_ptr()),
          static_cast<T*>(losses.data_ptr()), static_cast<T*>(lse.data_ptr()), rows, cols,
          -std::numeric_limits<T>::infinity());
    });
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

// The grid of the per-row kernel (the Net's 100 x 10 logits: one block, a row per thread; more
// rows: more blocks) combined by the last block. A stream without a ticket slot gets one block of
// kSingleBlockThreads instead (slower for many rows, still one launch and deterministic; the
// kernel's __launch_bounds__(1024) keeps it within the registers such a block may use).
void cross_entropy_forward_reduced(const Tensor& logits, const Tensor& target, const Tensor& total, const Tensor& lse,
                                   bool mean) {
  constexpr int kSingleBlockThreads = 1024;
  int64_t rows = logits.size(0), cols = logits.size(1);
  if (rows == 0) return;
  cudaStream_t stream = stream_of(logits);
  const int ticket_slot = block_ticket_slot(logits.device().index, stream);
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    launch_rows(rows, cols, [&](auto group, int blocks) {
      int threads = kBlockSize;
      if (blocks > 1 && ticket_slot < 0) {
        blocks = 1;
        threads = kSingleBlockThreads;
      }
      Tensor partials;  // freed on this stream after the launch: the caching allocator orders reuse
      if (blocks > 1) partials = empty({blocks}, TensorOptions(logits.dtype()).with_device(logits.device()));
      cross_entropy_rows_reduced<T, decltype(group)><<<blocks, threads, 0, stream>>>(
          static_cast<const T*>(logits.data_ptr()), static_cast<const int64_t*>(target.data_ptr()),
          static_cast<T*>(lse.data_ptr()), partials.defined() ? static_cast<T*>(partials.data_ptr()) : nullptr,
          static_cast<T*>(total.data_ptr()), rows, cols, -std::numeric_limits<T>::infinity(),
          static_cast<T>(mean ? static_cast<double>(rows) : 1.0), ticket_slot);
    });
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& grad,
                            int64_t grad_stride, double scale, const Tensor& grad_logits) {
  int64_t rows = logits.size(0), cols = logits.size(1);
  if (rows * cols == 0) return;
  cudaStream_t stream = stream_of(logits);
  dispatch_floating(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    launch_rows(rows, cols, [&](auto group, int blocks) {
      cross_entropy_backward_rows<T, decltype(group)><<<blocks, kBlockSize, 0, stream>>>(
          static_cast<const T*>(logits.data_ptr()), static_cast<const int64_t*>(target.data_ptr()),
          static_cast<const T*>(lse.data_ptr()), static_cast<const T*>(grad.data_ptr()), grad_stride,
          static_cast<T>(scale), static_cast<T*>(grad_logits.data_ptr()), rows, cols,
          -std::numeric_limits<T>::infinity());
    });
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void nll_forward(const Tensor& log_probs, const Tensor& target, const Tensor& losses) {
  int64_t rows = log_probs.size(0), cols = log_probs.size(1);
  if (rows == 0) return;
  dispatch_floating(log_probs.dtype(), "nll_loss", [&](auto tag) {
    using T = decltype(tag);
    nll_forward_kernel<T><<<grid_size(rows), kBlockSize, 0, stream_of(log_probs)>>>(
        static_cast<const T*>(log_probs.data_ptr()), static_cast<const int64_t*>(target.data_ptr()),
        static_cast<T*>(losses.data_ptr()), rows, cols);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void nll_backward(const Tensor& target, const Tensor& grad, int64_t grad_stride, double scale,
                  const Tensor& grad_log_probs) {
  int64_t rows = grad_log_probs.size(0), cols = grad_log_probs.size(1);
  if (rows * cols == 0) return;
  dispatch_floating(grad_log_probs.dtype(), "nll_loss_backward", [&](auto tag) {
    using T = decltype(tag);
    with_divmod(rows * cols, [&](auto div_tag) {
      using Div = decltype(div_tag);
      nll_backward_kernel<T><<<grid_size(rows * cols), kBlockSize, 0, stream_of(grad_log_probs)>>>(
          static_cast<const int64_t*>(target.data_ptr()), static_cast<const T*>(grad.data_ptr()), grad_stride,
          static_cast<T>(scale), static_cast<T*>(grad_log_probs.data_ptr()), rows, Div(cols));
    });
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
