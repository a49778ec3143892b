// A copy whose source runs across the destination's rows: x.t().contiguous(), a permute that
// moves the unit-stride dim. Copied element by element along the destination's last dim, such a
// copy reads one element per cache line (per 32-byte sector on a GPU); copied tile by tile, both
// sides read and write whole lines. Both devices take the same plan (kernels/cpu/copy.cpp,
// kernels/cuda/copy.cu).
//
// The plan picks two dims of the shape: `col`, the last dim (unit stride in dst), and `row`, the
// dim where src has unit stride. Every other dim is a batch dim. Element (b, i, j), i along row
// and j along col, is at
//   dst: dst_batch(b) + i * dst_row_stride + j
//   src: src_batch(b) + i + j * src_col_stride
// where dst_batch / src_batch are the offsets of batch b, from an indexer over the batch dims.
#pragma once
#include <ember/kernels/strided_indexer.h>

namespace ember::kernels {

struct TransposePlan {
  int64_t rows = 0, cols = 0;   // sizes of the row and col dims
  int64_t dst_row_stride = 0;   // dst's stride along row (its stride along col is 1)
  int64_t src_col_stride = 0;   // src's stride along col (its stride along row is 1)
  int64_t batches = 1;          // product of the batch dims' sizes
  StridedIndexer batch;         // operand 0: dst, operand 1: src, over the batch dims
};

// The side of the square tiles both devices copy through.
constexpr int64_t kTransposeTile = 32;

// Fills `plan` and returns true when src -> dst (same dtype, same shape) is such a copy and both
// tile dims are at least one tile long (smaller ones gain nothing from tiling).
inline bool plan_transposed_copy(const Tensor& src, const Tensor& dst, TransposePlan& plan) {
  const int ndim = static_cast<int>(dst.dim());
  if (ndim < 2 || ndim > kMaxDims || src.dtype() != dst.dtype()) return false;
  const int col = ndim - 1;
  if (dst.strides()[col] != 1 || src.strides()[col] == 1 || dst.sizes()[col] < kTransposeTile) return false;
  int row = -1;
  for (int d = 0; d < col; ++d)
    if (src.strides()[d] == 1 && dst.sizes()[d] >= kTransposeTile) row = d;
  if (row < 0) return false;
  plan.rows = dst.sizes()[row];
  plan.cols = dst.sizes()[col];
  plan.dst_row_stride = dst.strides()[row];
  plan.src_col_stride = src.strides()[col];
  plan.batches = 1;
  plan.batch = StridedIndexer{};
  for (int d = 0; d < col; ++d) {
    if (d == row) continue;
    const int b = plan.batch.ndim++;
    plan.batch.sizes[b] = dst.sizes()[d];
    plan.batch.strides[0][b] = dst.strides()[d];
    plan.batch.strides[1][b] = src.strides()[d];
    plan.batches *= dst.sizes()[d];
  }
  return true;
}

}  // namespace ember::kernels
