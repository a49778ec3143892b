#include <ember/nn/linear.h>

#include <cmath>

#include <ember/nn/init.h>
#include <ember/ops/ops.h>

namespace ember::nn {

Linear::Linear(const LinearOptions& options, Generator* generator) : Module("Linear"), options_(options) {
  EMBER_CHECK(options.in_features > 0 && options.out_features > 0, "Linear: features must be positive, got in=",
              options.in_features, " out=", options.out_features);
  weight = register_parameter("weight", empty({options.out_features, options.in_features}));
  if (options.with_bias) bias = register_parameter("bias", empty({options.out_features}));
  reset_parameters(generator);
}

void Linear::reset_parameters(Generator* generator) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), generator);
  if (bias.defined()) init::bias_uniform_(bias, options_.in_features, generator);
}

Tensor Linear::forward(const Tensor& input) { return linear(input, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(options_.in_features) + ", out_features=" +
         std::to_string(options_.out_features) + ", bias=" + (options_.with_bias ? "True" : "False");
}

}  // namespace ember::nn
