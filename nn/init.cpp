#include <ember/nn/init.h>

#include <cmath>

#include <ember/autograd/grad_mode.h>
#include <ember/core/error.h>

namespace ember::nn::init {

std::pair<int64_t, int64_t> fan_in_and_out(const Tensor& weight) {
  EMBER_CHECK(weight.dim() >= 2, "fan_in_and_out: needs a weight of at least 2 dims, got ", weight.str());
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive_field *= weight.size(d);
  return {weight.size(1) * receptive_field, weight.size(0) * receptive_field};
}

void kaiming_uniform_(Tensor& weight, double a, Generator* generator) {
  int64_t fan_in = fan_in_and_out(weight).first;
  EMBER_CHECK(fan_in > 0, "kaiming_uniform_: zero fan_in for ", weight.str());
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in));
  NoGradGuard no_grad;
  uniform_(weight, -bound, bound, generator);
}

void bias_uniform_(Tensor& bias, int64_t fan_in, Generator* generator) {
  EMBER_CHECK(fan_in > 0, "bias_uniform_: fan_in must be positive, got ", fan_in);
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  NoGradGuard no_grad;
  uniform_(bias, -bound, bound, generator);
}

}  // namespace ember::nn::init
