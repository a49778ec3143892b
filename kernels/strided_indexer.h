// StridedIndexer: maps a logical (row-major) element index to element offsets in up to three
// strided operands of one shape. Used by the slow (non-contiguous) path of elementwise kernels on
// the CPU and, passed by value as a kernel argument, on CUDA.
#pragma once
#include <algorithm>
#include <cstdint>

#include <ember/core/error.h>
#include <ember/core/tensor.h>
#include <ember/kernels/fast_divmod.h>
#include <ember/kernels/philox.h>

namespace ember::kernels {

constexpr int kMaxDims = 8;
constexpr int kMaxOperands = 3;

struct StridedIndexer {
  int ndim = 0;
  bool fast = false;  // every logical index is below 2^31: offsets divides by divisors[d]
  int64_t sizes[kMaxDims] = {};
  FastDivmod divisors[kMaxDims] = {};  // by sizes[d] (fast_divmod.h), when fast
  int64_t strides[kMaxOperands][kMaxDims] = {};

  // Offsets (in elements, from each operand's data pointer) of logical element `linear`. What is
  // left of `linear` after the inner dims is the outermost coordinate: no division for it.
  EMBER_HOST_DEVICE void offsets(int64_t linear, int64_t* out, int operands) const {
    for (int k = 0; k < operands; ++k) out[k] = 0;
    if (fast) {
      uint32_t rest = static_cast<uint32_t>(linear);
      for (int d = ndim - 1; d > 0; --d) {
        const uint32_t outer = divisors[d].div(rest), coord = rest - outer * divisors[d].divisor;
        rest = outer;
        for (int k = 0; k < operands; ++k) out[k] += int64_t(coord) * strides[k][d];
      }
      if (ndim > 0)
        for (int k = 0; k < operands; ++k) out[k] += int64_t(rest) * strides[k][0];
      return;
    }
    for (int d = ndim - 1; d > 0; --d) {
      int64_t coord = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < operands; ++k) out[k] += coord * strides[k][d];
    }
    if (ndim > 0)
      for (int k = 0; k < operands; ++k) out[k] += linear * strides[k][0];
  }
};

// Host loops over strided operands: calls fn(base, step, run) for consecutive runs along the
// innermost dim covering logical elements [begin, end), where operand k's elements of the run are
// at base[k] + r * step[k] for r in [0, run). An odometer carries from run to run, so the cost of
// the index arithmetic is per run, not per element, and the caller's inner loop vectorises.
template <int Operands, typename F>
void for_each_run(const StridedIndexer& ix, int64_t begin, int64_t end, F&& fn) {
  if (begin >= end) return;
  int64_t base[Operands] = {};
  if (ix.ndim == 0) {
    int64_t step[Operands] = {};
    fn(base, step, int64_t{1});
    return;
  }
  int64_t coord[kMaxDims] = {};
  int64_t rem = begin;
  for (int d = ix.ndim - 1; d >= 0; --d) {
    coord[d] = rem % ix.sizes[d];
    rem /= ix.sizes[d];
    for (int k = 0; k < Operands; ++k) base[k] += coord[d] * ix.strides[k][d];
  }
  const int last = ix.ndim - 1;
  int64_t step[Operands];
  for (int k = 0; k < Operands; ++k) step[k] = ix.strides[k][last];
  for (int64_t i = begin; i < end;) {
    const int64_t run = std::min(end - i, ix.sizes[last] - coord[last]);
    fn(static_cast<const int64_t*>(base), static_cast<const int64_t*>(step), run);
    i += run;
    // Advance the odometer by `run` along the last dim, carrying into the outer dims.
    coord[last] += run;
    for (int k = 0; k < Operands; ++k) base[k] += run * step[k];
    for (int d = last; d > 0 && coord[d] == ix.sizes[d]; --d) {
      coord[d] = 0;
      ++coord[d - 1];
      for (int k = 0; k < Operands; ++k) base[k] += ix.strides[k][d - 1] - ix.sizes[d] * ix.strides[k][d];
    }
  }
}

// Builds the indexer for operands that all have `shape` (inputs already broadcast by stride 0).
// Dims of size 1 are dropped, and a dim is merged into the next inner one when every operand
// steps over it as over one longer inner dim (stride[d] == stride[d + 1] * size[d + 1]): the same
// element-to-offset map with fewer dims, so contiguous operands cost no division per element and
// the host's runs (for_each_run) are as long as the layout allows.
// At most kMaxDims dims may remain after merging (any number before).
inline StridedIndexer make_indexer(const Shape& shape, const TensorList& operands) {
  EMBER_CHECK(static_cast<int>(operands.size()) <= kMaxOperands, "too many operands");
  const size_t count = operands.size();
  StridedIndexer ix;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    const int last = ix.ndim - 1;
    bool merges = last >= 0;
    for (size_t k = 0; k < count && merges; ++k)
      merges = ix.strides[k][last] == operands[k].strides()[d] * shape[d];
    if (merges) {
      ix.sizes[last] *= shape[d];
      for (size_t k = 0; k < count; ++k) ix.strides[k][last] = operands[k].strides()[d];
      continue;
    }
    EMBER_CHECK(ix.ndim < kMaxDims, "strided kernels walk at most ", kMaxDims,
                " dims that do not merge into one, got operands of shape ", shape_str(shape), " with strides ",
                shape_str(operands[0].strides()), (count > 1 ? " and " : ""),
                (count > 1 ? shape_str(operands[1].strides()) : ""));
    ix.sizes[ix.ndim] = shape[d];
    for (size_t k = 0; k < count; ++k) ix.strides[k][ix.ndim] = operands[k].strides()[d];
    ++ix.ndim;
  }
  const int64_t numel = shape_numel(shape);
  ix.fast = numel > 0 && fits_fast_divmod(numel);
  if (ix.fast)
    for (int d = 0; d < ix.ndim; ++d) ix.divisors[d] = FastDivmod(ix.sizes[d]);
  return ix;
}

}  // namespace ember::kernels
