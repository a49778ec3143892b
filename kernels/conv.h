// 2-D convolution kernels (NCHW activations, KCRS filters). CPU: im2col + GEMM over the batch on
// the thread pool (kernels/cpu/conv.cpp); GPU: cuDNN (kernels/cuda/conv.cpp).
// Every tensor argument is contiguous, of one floating dtype, on one device, with shapes already
// checked by ops/conv_ops.cpp: x (N, C, H, W), weight (K, C, R, S), out (N, K, P, Q) with
// P = (H + 2*pad_h - dil_h*(R-1) - 1) / stride_h + 1 (likewise Q).
#pragma once
#include <ember/core/tensor.h>
#include <ember/ops/ops.h>

namespace ember::kernels {

#define EMBER_CONV_KERNELS                                                                             \
  /* out = conv(x, weight) + bias (bias undefined: none). */                                          \
  void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out,   \
                      const Conv2dParams& params);                                                    \
  /* grad_x = conv_transpose(grad_out, weight), overwriting grad_x. */                                 \
  void conv2d_backward_data(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x,       \
                            const Conv2dParams& params);                                              \
  /* grad_weight = sum over images of grad_out (x) im2col(x), overwriting grad_weight. */              \
  void conv2d_backward_filter(const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight,     \
                              const Conv2dParams& params);                                            \
  /* grad_bias[k] = sum over n, p, q of grad_out[n, k, p, q]. */                                       \
  void conv2d_backward_bias(const Tensor& grad_out, const Tensor& grad_bias);
namespace cpu { EMBER_CONV_KERNELS }
namespace cuda { EMBER_CONV_KERNELS }
#undef EMBER_CONV_KERNELS

}  // namespace ember::kernels
