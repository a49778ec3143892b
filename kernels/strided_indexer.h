// StridedIndexer: maps a logical (row-major) element index to element offsets in up to three
// strided operands of one shape. Used by the slow (non-contiguous) path of elementwise kernels on
// the CPU and, passed by value as a kernel argument, on CUDA.
#pragma once
#include <cstdint>

#include <ember/core/error.h>
#include <ember/core/tensor.h>
#include <ember/kernels/philox.h>

namespace ember::kernels {

constexpr int kMaxDims = 8;
constexpr int kMaxOperands = 3;

struct StridedIndexer {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};

  // Offsets (in elements, from each operand's data pointer) of logical element `linear`.
  EMBER_HOST_DEVICE void offsets(int64_t linear, int64_t* out, int operands) const {
    for (int k = 0; k < operands; ++k) out[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t coord = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < operands; ++k) out[k] += coord * strides[k][d];
    }
  }
};

// Builds the indexer for operands that all have `shape` (inputs already broadcast by stride 0).
inline StridedIndexer make_indexer(const Shape& shape, const TensorList& operands) {
  EMBER_CHECK(static_cast<int>(shape.size()) <= kMaxDims, "kernels support at most ", kMaxDims,
              " dims, got ", shape_str(shape));
  EMBER_CHECK(static_cast<int>(operands.size()) <= kMaxOperands, "too many operands");
  StridedIndexer ix;
  ix.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.sizes[d] = shape[d];
    for (size_t k = 0; k < operands.size(); ++k) ix.strides[k][d] = operands[k].strides()[d];
  }
  return ix;
}

}  // namespace ember::kernels
