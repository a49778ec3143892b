#include <ember/autograd/accumulate_grad.h>
#include <ember/core/error.h>

namespace ember::autograd {

TensorList AccumulateGrad::apply(TensorList&& grad_outputs) {
  Tensor grad = std::move(grad_outputs.at(0));
  if (!grad.defined()) return {};
  Tensor leaf(leaf_);
  EMBER_CHECK(grad.sizes() == leaf.sizes(), "AccumulateGrad: gradient of shape ", shape_str(grad.sizes()),
              " for a leaf of shape ", shape_str(leaf.sizes()), leaf.name().empty() ? "" : " (", leaf.name(),
              leaf.name().empty() ? "" : ")");
  if (!leaf_->grad) {
    // First gradient: keep it (its buffer is ours alone when nobody else holds it).
    bool exclusive = grad.impl_ptr().use_count() == 1 && grad.storage().use_count() == 1 && grad.is_contiguous();
    leaf_->grad = exclusive ? grad.impl_ptr() : grad.clone().impl_ptr();
  } else {
    // In place, so that a gradient living in a DDP bucket (or any user view) stays there.
    Tensor(leaf_->grad).add_(grad);
  }
  for (const GradHook& hook : leaf_->grad_hooks) hook(leaf);
  return {};
}

}  // namespace ember::autograd
