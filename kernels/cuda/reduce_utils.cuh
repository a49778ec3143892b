// Warp- and block-level reductions for Ember's CUDA kernels (private to kernels/cuda).
// A warp reduces with __shfl_down_sync (lane 0 ends up with the result); a block reduces each
// warp, passes the 32 partial results through shared memory and reduces them in warp 0. Also:
// the last-block ticket that combines a launch's partials, the slicing of a reduced axis over
// blocks when the outputs cannot fill the device, and the row groups (a thread, a warp or a
// block per row) the row kernels are written against.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include <ember/kernels/cuda/launch.cuh>

namespace ember::kernels::cuda {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarpSize = 32;
// Rows up to this length are handled by one warp each, longer ones by a whole block.
constexpr int64_t kWarpRowLimit = 1024;

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const { return b > a ? b : a; }
};

__device__ __forceinline__ float device_exp(float x) { return expf(x); }
__device__ __forceinline__ double device_exp(double x) { return exp(x); }
__device__ __forceinline__ float device_log(float x) { return logf(x); }
__device__ __forceinline__ double device_log(double x) { return log(x); }

// v = op(v, v of lane + offset) for offsets 16, 8, 4, 2, 1: lane 0 holds op over the warp.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v = op(v, __shfl_down_sync(kFullMask, v, offset));
  return v;
}

// The warp's result in every lane.
template <typename T, typename Op>
__device__ __forceinline__ T warp_allreduce(T v, Op op) {
  return __shfl_sync(kFullMask, warp_reduce(v, op), 0);
}

// The block's result in every thread; blockDim.x a multiple of 32, scratch = __shared__ T[32].
// Every thread of the block must call it (it synchronises).
template <typename T, typename Op>
__device__ T block_allreduce(T v, Op op, T identity, T* scratch) {
  int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize, warps = blockDim.x / kWarpSize;
  v = warp_reduce(v, op);
  __syncthreads();  // the previous call's readers of scratch[0] are done
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = warp_reduce(lane < warps ? scratch[lane] : identity, op);
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  return scratch[0];
}

// One launch whose blocks each reduce a part, combined without a memset and deterministically:
// every block writes its partial result to a scratch buffer (from the caching allocator) and
// draws a ticket from a counter; the block that draws the last ticket knows that every other
// block has written (and fenced) its partial, sums the partials in a fixed order (the same
// whichever block comes last) and puts the counter back to 0, so that the next launch and every
// replay of a captured graph find it at 0. The counters are static device memory, zero when the
// module loads: each .cu file that uses them defines its own
//   __device__ unsigned int tickets[kBlockTicketSlots];
// indexed by block_ticket_slot(device, stream), one slot per stream so that launches on
// concurrent streams never share a counter (launches on one stream run one after another).
constexpr int kBlockTicketSlots = 64;

// The ticket slot of (device, stream), or -1 once every slot is taken (streams live as long as
// the process, so few ever exist): the caller then takes a path without tickets.
inline int block_ticket_slot(int device, cudaStream_t stream) {
  static std::mutex mutex;
  static std::vector<std::pair<int, cudaStream_t>> owners;
  std::lock_guard<std::mutex> lock(mutex);
  const std::pair<int, cudaStream_t> key{device, stream};
  for (size_t slot = 0; slot < owners.size(); ++slot)
    if (owners[slot] == key) return static_cast<int>(slot);
  if (owners.size() == static_cast<size_t>(kBlockTicketSlots)) return -1;
  owners.push_back(key);
  return static_cast<int>(owners.size()) - 1;
}

// Called by every thread of every block (a 1-d grid) after the block's partial is written;
// true in all threads of the block that finished last, which then reads the other blocks'
// partials through a volatile pointer (written by other SMs, never cached in this one's L1).
__device__ __forceinline__ bool last_block_to_finish(unsigned int* counter) {
  __shared__ bool last;
  __threadfence();  // this thread's writes are visible device-wide before the ticket is drawn
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(counter, 1u) == gridDim.x - 1;
    if (last) atomicExch(counter, 0u);  // every block has drawn: ready for the next launch
  }
  __syncthreads();
  if (last) __threadfence();
  return last;
}

// Blocks that keep every SM busy (8 blocks of 256 threads: 2048 threads, an H100 SM's limit).
inline int64_t blocks_to_fill_device() { return static_cast<int64_t>(device_sm_count()) * 8; }

// Column reductions run blocks of 32 adjacent columns x kColumnRows rows: a warp reads 128
// contiguous bytes of a row, the rows' partials meet in shared memory.
constexpr int kColumnRows = 8;

// Slices for `items` blocks over a reduced axis of `length`: enough to fill the device, none
// shorter than min_slice, each a multiple of `align`. Returns {splits, slice}.
struct Slicing {
  int64_t splits, slice;
};
inline Slicing slice_reduced_axis(int64_t items, int64_t length, int64_t min_slice, int64_t align, int64_t max_splits) {
  const int64_t wanted = (blocks_to_fill_device() + items - 1) / items;
  int64_t splits = std::min({wanted, length / min_slice, max_splits});
  if (splits <= 1) return {1, length};
  int64_t slice = (length + splits - 1) / splits;
  slice = (slice + align - 1) / align * align;
  return {(length + slice - 1) / slice, slice};
}

// The threads that share one row: a thread, a warp or the whole block per row. Rows are walked
// grid-stride; the loop bound is uniform within a group, so the shuffles see every lane.
// Rows of at most kThreadRowLimit elements (the MNIST logits' 10) take a thread each: a warp per
// row would leave most lanes idle and spend more instructions on shuffles than on the row; a
// warp reads 32 adjacent rows, a few cache lines that L1 serves to every pass over them.
constexpr int64_t kThreadRowLimit = 16;
struct ThreadPerRow {
  __device__ int rank() const { return 0; }
  __device__ int size() const { return 1; }
  __device__ int64_t first_row() const { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
  __device__ int64_t row_step() const { return static_cast<int64_t>(gridDim.x) * blockDim.x; }
  template <typename T, typename Op>
  __device__ T allreduce(T v, Op /*op*/, T /*identity*/, T* /*scratch*/) const { return v; }
};
struct WarpPerRow {
  __device__ int rank() const { return threadIdx.x % kWarpSize; }
  __device__ int size() const { return kWarpSize; }
  __device__ int64_t first_row() const {
    return static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize;
  }
  __device__ int64_t row_step() const { return static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarpSize); }
  template <typename T, typename Op>
  __device__ T allreduce(T v, Op op, T /*identity*/, T* /*scratch*/) const { return warp_allreduce(v, op); }
};
struct BlockPerRow {
  __device__ int rank() const { return threadIdx.x; }
  __device__ int size() const { return blockDim.x; }
  __device__ int64_t first_row() const { return blockIdx.x; }
  __device__ int64_t row_step() const { return gridDim.x; }
  template <typename T, typename Op>
  __device__ T allreduce(T v, Op op, T identity, T* scratch) const { return block_allreduce(v, op, identity, scratch); }
};

}  // namespace ember::kernels::cuda
