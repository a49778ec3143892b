// mse_loss(input, target) = reduce((input - target)^2), composed of differentiable ops, so its
// gradient 2 (input - target) / count (Mean) comes from their backward functions.
#include <ember/core/error.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  EMBER_CHECK(input.defined() && target.defined(), "mse_loss: input and target must be defined");
  ops::check_same_device_dtype("mse_loss", {{"input", &input}, {"target", &target}});
  EMBER_CHECK(input.sizes() == target.sizes(), "mse_loss: input ", input.str(), " and target ", target.str(),
              " differ in shape (broadcast target explicitly if that is meant)");
  Tensor squared = pow(input - target, 2.0);
  switch (reduction) {
    case Reduction::None: return squared;
    case Reduction::Sum: return sum(squared);
    case Reduction::Mean: break;
  }
  return mean(squared);
}

}  // namespace ember
