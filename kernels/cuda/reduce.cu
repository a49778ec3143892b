// CUDA kernels of kernels/reduce.h. The layout is [outer, reduce, inner]:
//   inner == 1, reduce <= kWarpRowLimit: a warp per row, lanes stride the row, __shfl_down_sync;
//   inner == 1, longer rows:             a block per row, warp shuffles + shared memory;
//   inner > 1:                           a thread per output column, reading coalesced across i.
// A reducer policy (sum, or max with its index) supplies identity/load/combine/shuffle/store.
#include <cstdint>
#include <limits>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/reduce_utils.cuh>
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

// out[row] = combine_c in[row, c], a warp per row
template <typename R>
__global__ void reduce_rows_warp(R r, const typename R::In* __restrict__ in, int64_t rows, int64_t cols) {
  WarpPerRow group;
  for (int64_t row = group.first_row(); row < rows; row += group.row_step()) {
    const typename R::In* p = in + row * cols;
    typename R::Acc acc = r.identity();
    for (int64_t c = group.rank(); c < cols; c += kWarpSize) acc = r.combine(acc, r.load(p[c], c));
    acc = warp_reduce_acc(r, acc);
    if (group.rank() == 0) r.store(row, acc);
  }
}

// out[row] = combine_c in[row, c], a block per row
template <typename R>
__global__ void reduce_rows_block(R r, const typename R::In* __restrict__ in, int64_t rows, int64_t cols) {
  __shared__ typename R::Acc scratch[kWarpSize];
  int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize, warps = blockDim.x / kWarpSize;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const typename R::In* p = in + row * cols;
    typename R::Acc acc = r.identity();
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) acc = r.combine(acc, r.load(p[c], c));
    acc = warp_reduce_acc(r, acc);
    __syncthreads();  // scratch is free again (previous row done)
    if (lane == 0) scratch[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = warp_reduce_acc(r, lane < warps ? scratch[lane] : r.identity());
      if (lane == 0) r.store(row, acc);
    }
  }
}

// out[o, i] = combine_r in[o, r, i], a thread per (o, i)
template <typename R>
__global__ void reduce_columns(R r, const typename R::In* __restrict__ in, int64_t outer, int64_t reduce, int64_t inner) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < outer * inner;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t o = k / inner, i = k % inner;
    const typename R::In* p = in + o * reduce * inner + i;
    typename R::Acc acc = r.identity();
    for (int64_t j = 0; j < reduce; ++j) acc = r.combine(acc, r.load(p[j * inner], j));
    r.store(k, acc);
  }
}

template <typename R>
void launch_reduce(const R& r, const Tensor& in, ReduceGeometry g) {
  cudaStream_t stream = stream_of(in);
  auto* p = static_cast<const typename R::In*>(in.data_ptr());
  if (g.inner == 1 && g.reduce <= kWarpRowLimit) {
    reduce_rows_warp<<<grid_size(g.outer * kWarpSize), kBlockSize, 0, stream>>>(r, p, g.outer, g.reduce);
  } else if (g.inner == 1) {
    reduce_rows_block<<<grid_size(g.outer * kBlockSize), kBlockSize, 0, stream>>>(r, p, g.outer, g.reduce);
  } else {
    reduce_columns<<<grid_size(g.outer * g.inner), kBlockSize, 0, stream>>>(r, p, g.outer, g.reduce, g.inner);
  }
  EMBER_CUDA_CHECK_LAUNCH();
}

// grad_in[o, r, i] = (r == indices[o, i]) ? grad[o, i] : 0, a thread per element of grad_in
template <typename T>
__global__ void max_backward_kernel(const T* __restrict__ grad, const int64_t* __restrict__ indices, T* __restrict__ grad_in,
                                    int64_t outer, int64_t reduce, int64_t inner) {
  int64_t n = outer * reduce * inner;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t i = k % inner, r = (k / inner) % reduce, o = k / (inner * reduce);
    int64_t out = o * inner + i;
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
    max_backward_kernel<<<grid_size(n), kBlockSize, 0, stream_of(grad)>>>(
        static_cast<const T*>(grad.data_ptr()), static_cast<const int64_t*>(indices.data_ptr()),
        static_cast<T*>(grad_in.data_ptr()), g.outer, g.reduce, g.inner);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
