// Fused kernels: one pass where the unfused ops would take several (kernels/cpu/fused.cpp,
// kernels/cuda/fused.cu). All tensors contiguous, validated by ops/fused_ops.cpp.
#pragma once
#include <ember/core/tensor.h>
#include <ember/kernels/pool.h>

namespace ember::kernels {

// x seen as (outer, channels, inner): channels is dim 1, inner the product of the dims after it.
struct ChannelView {
  int64_t outer, channels, inner;
};
inline ChannelView channel_view(const Tensor& x) {
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  return {x.size(0), x.size(1), inner};
}

#define EMBER_FUSED_KERNELS                                                                          \
  /* x viewed as (outer, C, inner), bias (C): out = max(x + bias[c], 0). */                          \
  void bias_relu_forward(const Tensor& x, const Tensor& bias, const Tensor& out);                   \
  /* grad_x = grad_out * (out > 0); grad_bias[c] = sum of grad_x over outer and inner (grad_x or    \
     grad_bias may be undefined when not needed). */                                                \
  void bias_relu_backward(const Tensor& grad_out, const Tensor& out, const Tensor& grad_x,          \
                          const Tensor& grad_bias);                                                 \
  /* out = max(max_pool2d(x) + bias[c], 0) (bias may be undefined: 0), indices as in               \
     max_pool2d_forward but -1 where the result was cut to 0, so that max_pool2d_backward routes    \
     the gradient through the pool and the relu at once. */                                         \
  void max_pool2d_relu_forward(const Tensor& x, const Tensor& bias, const Tensor& out, const Tensor& indices, \
                               const PoolParams& params);
namespace cpu { EMBER_FUSED_KERNELS }
namespace cuda { EMBER_FUSED_KERNELS }
#undef EMBER_FUSED_KERNELS

}  // namespace ember::kernels
