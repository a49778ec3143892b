// Copy and fill: the kernels core/ needs to make tensors contiguous, convert dtypes and set values.
#pragma once
#include <ember/core/tensor.h>

namespace ember::kernels {
#define EMBER_COPY_KERNELS                                                                  \
  /* dst[i] = cast(src[i]) for every logical index i; same shape, same device, any strides. */ \
  void copy(const Tensor& src, const Tensor& dst);                                          \
  /* dst[i] = value for every logical index i. */                                           \
  void fill(const Tensor& dst, double value);
namespace cpu { EMBER_COPY_KERNELS }
namespace cuda { EMBER_COPY_KERNELS }
#undef EMBER_COPY_KERNELS
}  // namespace ember::kernels
