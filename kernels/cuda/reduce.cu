// CUDA kernels of kernels/reduce.h. The layout is [outer, reduce, inner]:
//   inner == 1, reduce <= kWarpRowLimit: a warp per row, lanes stride the row, __shfl_down_sync;
//   inner == 1, longer rows:             a block per row (or per slice of a row, below);
//   inner > 1, enough outputs:           a thread per output column, reading coalesced across i;
//   inner > 1, few outputs:              a 32 x 8 block per 32 adjacent columns (or per slice).
// When the outputs alone cannot fill the device (one long row: a sum of everything; a few wide
// columns over many rows), the reduced axis is cut into slices: pass 1 reduces each slice to a
// partial (the reducer's accumulator) in a scratch buffer, pass 2 (fold_partials) combines each
// output's partials in slice order. The slices depend only on the shape and the SM count, so a
// device gives the same bits run to run, eager or replayed in a graph.
// A reducer policy (sum, or max with its index) supplies identity/load/combine/shuffle/store.
#include <algorithm>
#include <cstdint>
#include <limits>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/reduce_utils.cuh>
#include <ember/kernels/fast_divmod.h>
#include <ember/kernels/reduce.h>
#include <ember/kernels/reduce_math.h>

namespace ember::kernels::cuda {

namespace {

// out[k] = scale * sum
template <typename T>
struct SumReducer {
  using In = T;
  using Acc = T;
  T* out;
  T scale;
  __device__ Acc identity() const { return T(0); }
  __device__ Acc load(T v, int64_t) const { return v; }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  __device__ Acc shfl_down(Acc a, int offset) const { return __shfl_down_sync(kFullMask, a, offset); }
  __device__ void store(int64_t k, Acc a) const { out[k] = a * scale; }
};

// values[k], indices[k] = the first maximum and where it is (math::argmax_combine).
template <typename T>
struct MaxReducer {
  using In = T;
  using Acc = math::ArgMax<T>;
  T* values;
  int64_t* indices;
  T lowest;  // -inf
  __device__ Acc identity() const { return {lowest, INT64_MAX}; }
  __device__ Acc load(T v, int64_t r) const { return {v, r}; }
  __device__ Acc combine(Acc a, Acc b) const { return math::argmax_combine(a, b); }
  __device__ Acc shfl_down(Acc a, int offset) const {
    Acc b;
    b.value = __shfl_down_sync(kFullMask, a.value, offset);
    b.index = static_cast<int64_t>(__shfl_down_sync(kFullMask, static_cast<long long>(a.index), offset));
    return b;
  }
  __device__ void store(int64_t k, Acc a) const {
    values[k] = a.value;
    indices[k] = a.index;
  }
};

template <typename R>
__device__ typename R::Acc warp_reduce_acc(const R& r, typename R::Acc v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v = r.combine(v, r.shfl_down(v, offset));
  return v;
}

// combine_j in[j * stride] for j = first, first + step, ... < end. Four accumulators keep four
// independent loads in flight per thread (a single chain would wait on each load in turn).
template <typename R>
__device__ typename R::Acc accumulate(const R& r, const typename R::In* __restrict__ in, int64_t stride,
                                      int64_t first, int64_t end, int64_t step) {
  typename R::Acc a0 = r.identity(), a1 = a0, a2 = a0, a3 = a0;
  int64_t j = first;
  for (; j + 3 * step < end; j += 4 * step) {
    a0 = r.combine(a0, r.load(in[j * stride], j));
    a1 = r.combine(a1, r.load(in[(j + step) * stride], j + step));
    a2 = r.combine(a2, r.load(in[(j + 2 * step) * stride], j + 2 * step));
    a3 = r.combine(a3, r.load(in[(j + 3 * step) * stride], j + 3 * step));
  }
  for (; j < end; j += step) a0 = r.combine(a0, r.load(in[j * stride], j));
  return r.combine(r.combine(a0, a1), r.combine(a2, a3));
}

// out[row] = combine_c in[row, c], a warp per row
template <typename R>
__global__ void reduce_rows_warp(R r, const typename R::In* __restrict__ in, int64_t rows, int64_t cols) {
  WarpPerRow group;
  for (int64_t row = group.first_row(); row < rows; row += group.row_step()) {
    typename R::Acc acc = accumulate(r, in + row * cols, 1, group.rank(), cols, kWarpSize);
    acc = warp_reduce_acc(r, acc);
    if (group.rank() == 0) r.store(row, acc);
  }
}

// Block b reduces columns [s * slice, (s + 1) * slice) of row b / splits, s = b % splits:
// out[row] when the row is one slice, else partials[b].
template <typename R>
__global__ void reduce_rows_block(R r, const typename R::In* __restrict__ in, int64_t rows, int64_t cols,
                                  int64_t splits, int64_t slice, typename R::Acc* __restrict__ partials) {
  __shared__ typename R::Acc scratch[kWarpSize];
  int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize, warps = blockDim.x / kWarpSize;
  for (int64_t b = blockIdx.x; b < rows * splits; b += gridDim.x) {
    int64_t row = b / splits, begin = (b % splits) * slice, end = begin + slice < cols ? begin + slice : cols;
    typename R::Acc acc = accumulate(r, in + row * cols, 1, begin + threadIdx.x, end, blockDim.x);
    acc = warp_reduce_acc(r, acc);
    __syncthreads();  // scratch is free again (previous row done)
    if (lane == 0) scratch[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = warp_reduce_acc(r, lane < warps ? scratch[lane] : r.identity());
      if (lane == 0) {
        if (splits > 1) partials[b] = acc;
        else r.store(row, acc);
      }
    }
  }
}

// out[o, i] = combine_r in[o, r, i], a thread per (o, i)
template <typename R>
__global__ void reduce_columns(R r, const typename R::In* __restrict__ in, int64_t outer, int64_t reduce, int64_t inner) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < outer * inner;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t o = k / inner, i = k % inner;
    r.store(k, accumulate(r, in + o * reduce * inner + i, inner, 0, reduce, 1));
  }
}

// A block per tile of 32 adjacent columns i of one o (a warp reads 128 contiguous bytes) and per
// slice of rows r in [blockIdx.y * slice, ... + slice): threadIdx.y strides the slice, the
// kColumnRows partials of a column meet in shared memory. Writes out[o, i] when the rows are one
// slice, else partials[blockIdx.y, o * inner + i].
template <typename R>
__global__ void reduce_columns_tiled(R r, const typename R::In* __restrict__ in, int64_t outer, int64_t reduce,
                                     int64_t inner, int64_t slice, typename R::Acc* __restrict__ partials) {
  __shared__ typename R::Acc fold[kColumnRows][kWarpSize];
  const int64_t tiles_per_outer = (inner + kWarpSize - 1) / kWarpSize, outputs = outer * inner;
  const int64_t begin = blockIdx.y * slice, end = begin + slice < reduce ? begin + slice : reduce;
  for (int64_t t = blockIdx.x; t < outer * tiles_per_outer; t += gridDim.x) {
    int64_t o = t / tiles_per_outer, i = (t % tiles_per_outer) * kWarpSize + threadIdx.x;
    typename R::Acc acc = r.identity();
    if (i < inner) acc = accumulate(r, in + o * reduce * inner + i, inner, begin + threadIdx.y, end, blockDim.y);
    fold[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      for (int y = 1; y < kColumnRows; ++y) acc = r.combine(acc, fold[y][threadIdx.x]);
      int64_t k = o * inner + i;
      if (gridDim.y > 1) partials[blockIdx.y * outputs + k] = acc;
      else r.store(k, acc);
    }
    __syncthreads();  // fold is free for the next tile
  }
}

// out[k] = combine_s partials[k * k_stride + s * s_stride] over the slices s, a warp per output
// (lanes take s, s + 32, ...; the shuffle tree then fixes the order).
template <typename R>
__global__ void fold_partials(R r, const typename R::Acc* __restrict__ partials, int64_t outputs, int64_t splits,
                              int64_t k_stride, int64_t s_stride) {
  WarpPerRow group;
  for (int64_t k = group.first_row(); k < outputs; k += group.row_step()) {
    typename R::Acc acc = r.identity();
    for (int64_t s = group.rank(); s < splits; s += kWarpSize) acc = r.combine(acc, partials[k * k_stride + s * s_stride]);
    acc = warp_reduce_acc(r, acc);
    if (group.rank() == 0) r.store(k, acc);
  }
}

// Scratch for one partial accumulator per (output, slice), in elements of T from the caching
// allocator (freed on the stream after the launches; the allocator orders the reuse).
template <typename R, typename T>
Tensor partials_scratch(const Tensor& like, int64_t count) {
  static_assert(sizeof(typename R::Acc) % sizeof(T) == 0, "an accumulator is a whole number of elements");
  return empty({count * static_cast<int64_t>(sizeof(typename R::Acc) / sizeof(T))},
               TensorOptions(like.dtype()).with_device(like.device()));
}

template <typename R>
void launch_reduce(const R& r, const Tensor& in, ReduceGeometry g) {
  using T = typename R::In;
  using Acc = typename R::Acc;
  cudaStream_t stream = stream_of(in);
  auto* p = static_cast<const T*>(in.data_ptr());
  const int64_t outputs = g.outer * g.inner;
  if (g.inner == 1 && g.reduce <= kWarpRowLimit) {
    reduce_rows_warp<<<grid_size(g.outer * kWarpSize), kBlockSize, 0, stream>>>(r, p, g.outer, g.reduce);
    EMBER_CUDA_CHECK_LAUNCH();
    return;
  }
  Slicing s{1, g.reduce};
  Tensor partials;
  if (g.inner == 1) {
    // A slice gives each thread of the block 16 elements at least.
    if (g.outer < blocks_to_fill_device()) s = slice_reduced_axis(g.outer, g.reduce, 16 * kBlockSize, kBlockSize, INT32_MAX);
    if (s.splits > 1) partials = partials_scratch<R, T>(in, g.outer * s.splits);
    reduce_rows_block<<<grid_size(g.outer * s.splits * kBlockSize), kBlockSize, 0, stream>>>(
        r, p, g.outer, g.reduce, s.splits, s.slice, partials.defined() ? static_cast<Acc*>(partials.data_ptr()) : nullptr);
    EMBER_CUDA_CHECK_LAUNCH();
    if (s.splits > 1) {
      fold_partials<<<grid_size(g.outer * kWarpSize), kBlockSize, 0, stream>>>(
          r, static_cast<const Acc*>(partials.data_ptr()), g.outer, s.splits, s.splits, 1);
      EMBER_CUDA_CHECK_LAUNCH();
    }
    return;
  }
  if (outputs >= blocks_to_fill_device() * kBlockSize) {
    reduce_columns<<<grid_size(outputs), kBlockSize, 0, stream>>>(r, p, g.outer, g.reduce, g.inner);
    EMBER_CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t tiles = g.outer * ((g.inner + kWarpSize - 1) / kWarpSize);
  // A slice gives each thread 16 rows at least; gridDim.y is at most 65535.
  if (tiles < blocks_to_fill_device()) s = slice_reduced_axis(tiles, g.reduce, 16 * kColumnRows, 1, 65535);
  if (s.splits > 1) partials = partials_scratch<R, T>(in, outputs * s.splits);
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles, device_sm_count() * 32)), static_cast<unsigned>(s.splits));
  reduce_columns_tiled<<<grid, dim3(kWarpSize, kColumnRows), 0, stream>>>(
      r, p, g.outer, g.reduce, g.inner, s.slice, partials.defined() ? static_cast<Acc*>(partials.data_ptr()) : nullptr);
  EMBER_CUDA_CHECK_LAUNCH();
  if (s.splits > 1) {
    fold_partials<<<grid_size(outputs * kWarpSize), kBlockSize, 0, stream>>>(
        r, static_cast<const Acc*>(partials.data_ptr()), outputs, s.splits, 1, outputs);
    EMBER_CUDA_CHECK_LAUNCH();
  }
}

// grad_in[o, r, i] = (r == indices[o, i]) ? grad[o, i] : 0, a thread per element of grad_in
// k = (o * reduce + r) * inner + i (Div: fast_divmod.h)
template <typename T, typename Div>
__global__ void max_backward_kernel(const T* __restrict__ grad, const int64_t* __restrict__ indices, T* __restrict__ grad_in,
                                    int64_t n, Div reduce, Div inner) {
  using I = typename Div::Index;
  for (I k = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; k < static_cast<I>(n);
       k += static_cast<I>(gridDim.x) * blockDim.x) {
    const I row = inner.div(k), o = reduce.div(row);  // row = o * reduce + r
    const int64_t i = k - row * inner.divisor, r = row - o * reduce.divisor;
    const int64_t out = int64_t(o) * inner.divisor + i;
    grad_in[k] = r == indices[out] ? grad[out] : T(0);
  }
}

}  // namespace

void sum_dim(const Tensor& in, const Tensor& out, ReduceGeometry g, double scale) {
  if (out.numel() == 0) return;
  dispatch_floating(out.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    launch_reduce(SumReducer<T>{static_cast<T*>(out.data_ptr()), static_cast<T>(scale)}, in, g);
  });
}

void max_dim(const Tensor& in, const Tensor& values, const Tensor& indices, ReduceGeometry g) {
  if (values.numel() == 0) return;
  dispatch_floating(in.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    launch_reduce(MaxReducer<T>{static_cast<T*>(values.data_ptr()), static_cast<int64_t*>(indices.data_ptr()),
                                -std::numeric_limits<T>::infinity()},
                  in, g);
  });
}

void max_dim_backward(const Tensor& grad, const Tensor& indices, const Tensor& grad_in, ReduceGeometry g) {
  int64_t n = grad_in.numel();
  if (n == 0) return;
  dispatch_floating(grad.dtype(), "max_backward", [&](auto tag) {
    using T = decltype(tag);
    with_divmod(n, [&](auto div_tag) {
      using Div = decltype(div_tag);
      max_backward_kernel<<<grid_size(n), kBlockSize, 0, stream_of(grad)>>>(
          static_cast<const T*>(grad.data_ptr()), static_cast<const int64_t*>(indices.data_ptr()),
          static_cast<T*>(grad_in.data_ptr()), n, Div(g.reduce), Div(g.inner));
    });
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
