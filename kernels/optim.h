// Fused optimizer updates: one call (one CUDA launch per kMaxTensorsPerLaunch parameters) updates
// every parameter of an optimizer step, instead of a chain of elementwise ops per parameter.
// All tensors of one call are contiguous, on one device and of one floating dtype; each slot's
// grad and state tensors have its param's shape.
// Capturable Adam (a step that a CUDA graph replays) keeps each parameter's step count in a device
// tensor (OptimSlot::step): increment_step advances it and adam_update derives the bias corrections
// from it on the device, so no host value changes from one step to the next.
#pragma once
#include <vector>

#include <ember/core/tensor.h>

namespace ember::kernels {

// One parameter's update: its tensors and the per-parameter scalars.
struct OptimSlot {
  Tensor param;
  Tensor grad;
  Tensor state1;  // SGD: momentum buffer; Adam: exp_avg; Adadelta: square_avg
  Tensor state2;  // Adam: exp_avg_sq; Adadelta: acc_delta
  double bias_correction1 = 1.0;  // Adam: 1 - beta1^step
  double bias_correction2 = 1.0;  // Adam: 1 - beta2^step
  // Capturable Adam: the step count, a float64 scalar on the param's device. Defined: adam_update
  // computes the bias corrections from it (bias_correction1/2 are ignored). float64 rather than
  // PyTorch's float32: it counts exactly past 2^24 steps, and it is the type the host path raises
  // the betas to, so capturable and not give the same bias corrections.
  Tensor step;
  bool first_step = false;        // SGD: the momentum buffer is set to the gradient, not blended
};

struct SgdHyper {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};
struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // AdamW
};
struct AdadeltaHyper {
  double lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0.0;
};

#define EMBER_OPTIM_KERNELS                                                                      \
  /* d = g + wd p; b = first ? d : momentum b + (1 - dampening) d (momentum != 0);            */ \
  /* d = nesterov ? d + momentum b : b; p -= lr d. state1 is unused when momentum == 0.       */ \
  void sgd_update(const std::vector<OptimSlot>& slots, const SgdHyper& hyper);                   \
  /* Adam: g += wd p (AdamW instead: p *= 1 - lr wd); m = b1 m + (1-b1) g;                    */ \
  /* v = b2 v + (1-b2) g^2; p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).                  */ \
  /* With slot.step: bc1 = 1 - b1^step, bc2 = 1 - b2^step (in double), read on the device.    */ \
  void adam_update(const std::vector<OptimSlot>& slots, const AdamHyper& hyper);                 \
  /* step += 1 for every slot's step tensor (all defined; one launch per pack on CUDA).       */ \
  void increment_step(const std::vector<OptimSlot>& slots);                                      \
  /* g += wd p; s = rho s + (1-rho) g^2; delta = sqrt(a + eps) / sqrt(s + eps) g;             */ \
  /* a = rho a + (1-rho) delta^2; p -= lr delta.                                              */ \
  void adadelta_update(const std::vector<OptimSlot>& slots, const AdadeltaHyper& hyper);
namespace cpu { EMBER_OPTIM_KERNELS }
namespace cuda { EMBER_OPTIM_KERNELS }
#undef EMBER_OPTIM_KERNELS

}  // namespace ember::kernels
