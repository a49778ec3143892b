// Dropout from the Philox stream: element i keeps its value when u_i >= p, where u_i is
// uniform_float of word i%4 of philox(seed, offset + i/4) (kernels/philox.h). The comparison is
// done in float on both sides, so the CPU and CUDA masks are bit-identical for one (seed, offset).
#pragma once
#include <cstdint>

#include <ember/core/tensor.h>

namespace ember::kernels {

#define EMBER_DROPOUT_KERNELS                                                                       \
  /* mask[i] = u_i >= p (uint8); out[i] = mask[i] ? in[i] * scale : 0. All contiguous, in/out floating. */ \
  void dropout_forward(const Tensor& in, const Tensor& out, const Tensor& mask, double p, double scale, \
                       uint64_t seed, uint64_t offset);                                             \
  /* grad_in[i] = mask[i] ? grad[i] * scale : 0. All contiguous. */                                 \
  void dropout_backward(const Tensor& grad, const Tensor& mask, const Tensor& grad_in, double scale);
namespace cpu { EMBER_DROPOUT_KERNELS }
namespace cuda { EMBER_DROPOUT_KERNELS }
#undef EMBER_DROPOUT_KERNELS

}  // namespace ember::kernels
