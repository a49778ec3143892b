// Softmax, log-softmax and the losses built on them. Inputs come contiguous in the layout
// [outer, C, inner] (C the softmax dim, see kernels/reduce.h); the loss kernels take rows of
// (N, C) logits / log-probabilities and int64 targets (N).
//   softmax:      y = exp(x - max) / sum exp(x - max)
//   log_softmax:  y = (x - max) - log sum exp(x - max)
//   cross-entropy (fused log_softmax + nll): with m[n] = max_c x[n, c],
//                 lse[n] = log sum_c exp(x[n, c] - m[n]), loss[n] = (m[n] - x[n, t[n]]) + lse[n]
// x - max is taken first and log sum apart: max + log sum rounded to the dtype would err by the
// ulp of max (0.002 for a float near 3e4) in every log-probability and gradient. For the same
// reason the saved per-row lse is the log-sum-exp less the row max (in [0, log C], where the
// dtype's rounding is tiny), and the cross-entropy gradient recomputes the max from the logits.
// Targets are range-checked by the ops on the CPU; the CUDA kernels do not check them on the
// device (that would need a synchronising read-back): an out-of-range target gives a NaN loss and
// a NaN gradient row there, never an out-of-bounds access.
#pragma once
#include <cstdint>

#include <ember/core/tensor.h>
#include <ember/kernels/reduce.h>

namespace ember::kernels {

#define EMBER_SOFTMAX_KERNELS                                                                        \
  /* out = softmax (or log_softmax when log) of in over the middle axis; contiguous, same dtype. */  \
  void softmax_forward(const Tensor& in, const Tensor& out, ReduceGeometry g, bool log);             \
  /* grad_in = y * (grad - sum_c grad * y)       (softmax, y = its output)                   */      \
  /* grad_in = grad - exp(y) * sum_c grad        (log_softmax, y = its output)               */      \
  void softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_in, ReduceGeometry g, bool log); \
  /* losses[n] = (m[n] - logits[n, t[n]]) + lse[n], lse[n] = log sum_c exp(logits[n, c] - m[n]),    \
     m[n] = max_c logits[n, c]; (N, C) rows. */                                                      \
  void cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& losses, const Tensor& lse); \
  /* The reduced loss without the per-row losses (on CUDA one launch): lse as above and            \
     total (0-dim) = sum_n losses[n] / N (mean) or sum_n losses[n] (sum); N >= 1. */                 \
  void cross_entropy_forward_reduced(const Tensor& logits, const Tensor& target, const Tensor& total, \
                                     const Tensor& lse, bool mean);                                 \
  /* grad_logits[n, c] = (exp((logits[n, c] - m[n]) - lse[n]) - [c == t[n]]) * scale              \
     * grad[n * grad_stride], m[n] = max_c logits[n, c] recomputed, lse[n] from the forward */      \
  void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& grad, \
                              int64_t grad_stride, double scale, const Tensor& grad_logits);         \
  /* losses[n] = -log_probs[n, t[n]] */                                                              \
  void nll_forward(const Tensor& log_probs, const Tensor& target, const Tensor& losses);              \
  /* grad_log_probs[n, c] = [c == t[n]] * -scale * grad[n * grad_stride] */                          \
  void nll_backward(const Tensor& target, const Tensor& grad, int64_t grad_stride, double scale,     \
                    const Tensor& grad_log_probs);
namespace cpu { EMBER_SOFTMAX_KERNELS }
namespace cuda { EMBER_SOFTMAX_KERNELS }
#undef EMBER_SOFTMAX_KERNELS

}  // namespace ember::kernels
