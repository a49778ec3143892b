// Max pooling kernels, hand-written on both devices (kernels/cpu/pool.cpp, kernels/cuda/pool.cu).
// x (N, C, H, W) contiguous -> out, indices (N, C, P, Q) contiguous. indices (int64) holds, per
// output, the flat position h*W + w of the maximum inside its input plane (the first one on
// ties; padding counts as -infinity). A negative index means "no gradient flows" (used by the
// fused pool + relu, which marks outputs that relu clamped).
#pragma once
#include <array>

#include <ember/core/tensor.h>

namespace ember::kernels {

struct PoolParams {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{2, 2};
  std::array<int64_t, 2> padding{0, 0};
  // Windows overlap when a stride is smaller than its kernel: then several outputs may scatter
  // into one input in backward.
  bool windows_overlap() const { return stride[0] < kernel[0] || stride[1] < kernel[1]; }
};

#define EMBER_POOL_KERNELS                                                                          \
  /* out = max over each window; indices = where it was. */                                        \
  void max_pool2d_forward(const Tensor& x, const Tensor& out, const Tensor& indices, const PoolParams& params); \
  /* grad_x = 0, then grad_x[plane, indices[o]] += grad_out[o] for every output o with index >= 0. */ \
  void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,      \
                           const PoolParams& params);                                               \
  /* Disjoint windows only (!params.windows_overlap()), for max_pool2d_relu with a bias: grad_x as  \
     max_pool2d_backward and                                                                        \
     grad_bias[c] = sum of grad_out[n, c, p, q] over the outputs with index >= 0 (the relu let them  \
     through), in one pass (on CUDA one launch). */                                                 \
  void max_pool2d_backward_with_bias(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x, \
                                     const Tensor& grad_bias, const PoolParams& params);
namespace cpu { EMBER_POOL_KERNELS }
namespace cuda { EMBER_POOL_KERNELS }
#undef EMBER_POOL_KERNELS

}  // namespace ember::kernels
