// Reductions over one block of dims. Ops bring the input into the layout [outer, reduce, inner]
// (contiguous; reduced dims adjacent, permuting them there first when they are not), so every
// reduction here is "over the middle axis" of a 3-d contiguous tensor:
//   out[o, i] = combine_r in[o, r, i].
// inner == 1 is the common row case (reduce the last dim), which the CUDA kernels handle with a
// warp or a block per row and warp-shuffle reductions.
#pragma once
#include <cstdint>

#include <ember/core/tensor.h>

namespace ember::kernels {

struct ReduceGeometry {
  int64_t outer = 1;   // product of the dims before the reduced block
  int64_t reduce = 1;  // product of the reduced dims
  int64_t inner = 1;   // product of the dims after the reduced block
};

#define EMBER_REDUCE_KERNELS                                                                        \
  /* out[o, i] = scale * sum_r in[o, r, i]; in, out contiguous, floating, same dtype. */            \
  void sum_dim(const Tensor& in, const Tensor& out, ReduceGeometry g, double scale);                \
  /* values[o, i] = max_r in[o, r, i], indices[o, i] = its first r (NaN counts as the largest);  */ \
  /* in, values contiguous floating; indices contiguous int64; g.reduce >= 1. */                    \
  void max_dim(const Tensor& in, const Tensor& values, const Tensor& indices, ReduceGeometry g);    \
  /* grad_in[o, r, i] = (r == indices[o, i]) ? grad[o, i] : 0; every operand contiguous. */         \
  void max_dim_backward(const Tensor& grad, const Tensor& indices, const Tensor& grad_in, ReduceGeometry g);
namespace cpu { EMBER_REDUCE_KERNELS }
namespace cuda { EMBER_REDUCE_KERNELS }
#undef EMBER_REDUCE_KERNELS

}  // namespace ember::kernels
