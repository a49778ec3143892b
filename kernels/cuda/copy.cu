// CUDA copy (dtype conversion, any strides) and fill, as grid-stride loops; transposed copies
// (kernels/transpose_plan.h) through shared-memory tiles.
#include <algorithm>

#include <ember/kernels/copy.h>
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/strided_indexer.h>
#include <ember/kernels/transpose_plan.h>

namespace ember::kernels::cuda {

namespace {
// dst[offset_dst(i)] = cast(src[offset_src(i)])
template <typename TD, typename TS>
__global__ void copy_strided(int64_t n, StridedIndexer ix, TD* dst, const TS* src) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[kMaxOperands];
    ix.offsets(i, off, 2);
    dst[off[0]] = static_cast<TD>(src[off[1]]);
  }
}

constexpr int kTile = static_cast<int>(kTransposeTile);
constexpr int kTileRowsPerPass = 8;  // blockDim = (kTile, kTileRowsPerPass)

// One tile per block iteration (grid-stride over batch x row tiles x col tiles). The block reads
// the tile with its threads along row, src's unit stride, and writes it with its threads along
// col, dst's unit stride: both sides coalesced, where a plain strided copy reads one element per
// 32-byte sector. tile[j][i] holds element (i0 + i, j0 + j); its padding column puts the writes'
// column reads tile[x][k] on 32 different banks.
template <typename T>
__global__ void copy_transposed_kernel(TransposePlan plan, int64_t row_tiles, int64_t col_tiles, T* dst,
                                       const T* src) {
  __shared__ T tile[kTile][kTile + 1];
  const int x = threadIdx.x, y = threadIdx.y;
  const int64_t tiles_per_batch = row_tiles * col_tiles;
  for (int64_t t = blockIdx.x; t < plan.batches * tiles_per_batch; t += gridDim.x) {
    int64_t off[kMaxOperands];
    plan.batch.offsets(t / tiles_per_batch, off, 2);
    const int64_t i0 = (t % tiles_per_batch) / col_tiles * kTile, j0 = (t % col_tiles) * kTile;
    for (int k = y; k < kTile; k += kTileRowsPerPass) {
      const int64_t i = i0 + x, j = j0 + k;
      if (i < plan.rows && j < plan.cols) tile[k][x] = src[off[1] + i + j * plan.src_col_stride];
    }
    __syncthreads();
    for (int k = y; k < kTile; k += kTileRowsPerPass) {
      const int64_t i = i0 + k, j = j0 + x;
      if (i < plan.rows && j < plan.cols) dst[off[0] + i * plan.dst_row_stride + j] = tile[x][k];
    }
    __syncthreads();  // the next tile overwrites this one
  }
}

// dst[offset(i)] = value
template <typename T>
__global__ void fill_strided(int64_t n, StridedIndexer ix, T* dst, T value) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[kMaxOperands];
    ix.offsets(i, off, 1);
    dst[off[0]] = value;
  }
}
}  // namespace

void copy(const Tensor& src, const Tensor& dst) {
  int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t stream = stream_of(dst);
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  TransposePlan plan;
  if (plan_transposed_copy(src, dst, plan)) {
    const int64_t row_tiles = (plan.rows + kTile - 1) / kTile, col_tiles = (plan.cols + kTile - 1) / kTile;
    const int blocks = static_cast<int>(std::min<int64_t>(plan.batches * row_tiles * col_tiles, int64_t{1} << 20));
    dispatch_all(dst.dtype(), "copy", [&](auto tag) {
      using T = decltype(tag);
      copy_transposed_kernel<T><<<blocks, dim3(kTile, kTileRowsPerPass), 0, stream>>>(
          plan, row_tiles, col_tiles, static_cast<T*>(dst.data_ptr()), static_cast<const T*>(src.data_ptr()));
      EMBER_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  StridedIndexer ix = make_indexer(dst.sizes(), {dst, src});
  dispatch_all(dst.dtype(), "copy", [&](auto dst_tag) {
    using TD = decltype(dst_tag);
    dispatch_all(src.dtype(), "copy", [&](auto src_tag) {
      using TS = decltype(src_tag);
      copy_strided<<<grid_size(n), kBlockSize, 0, stream>>>(n, ix, static_cast<TD*>(dst.data_ptr()),
                                                             static_cast<const TS*>(src.data_ptr()));
      EMBER_CUDA_CHECK_LAUNCH();
    });
  });
}

void fill(const Tensor& dst, double value) {
  int64_t n = dst.numel();
  if (n == 0) return;
  StridedIndexer ix = make_indexer(dst.sizes(), {dst});
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    fill_strided<<<grid_size(n), kBlockSize, 0, stream_of(dst)>>>(n, ix, static_cast<T*>(dst.data_ptr()),
                                                                 static_cast<T>(value));
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
