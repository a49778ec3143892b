// Gather/scatter along one dim. Operands are contiguous and seen as [outer, size, inner], with
// `size` the indexed dim (in_size for the source, index.numel() for the gathered side). Index
// values are range-checked by the ops (CPU) or trap in the kernel (CUDA) before any bad access.
#pragma once
#include <cstdint>

#include <ember/core/tensor.h>

namespace ember::kernels {

#define EMBER_INDEX_KERNELS                                                                         \
  /* out[o, k, i] = in[o, index[k], i]; any dtype (in and out alike), index int64. */               \
  void index_select(const Tensor& in, const Tensor& index, const Tensor& out, int64_t outer, int64_t inner); \
  /* grad_in[o, index[k], i] += grad[o, k, i]; floating; repeated indices accumulate. */            \
  void index_add(const Tensor& grad, const Tensor& index, const Tensor& grad_in, int64_t outer, int64_t inner);
namespace cpu { EMBER_INDEX_KERNELS }
namespace cuda { EMBER_INDEX_KERNELS }
#undef EMBER_INDEX_KERNELS

}  // namespace ember::kernels
