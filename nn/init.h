// Parameter initialisation with PyTorch's default formulas, drawn from ember's Generator.
#pragma once
#include <utility>

#include <ember/core/random.h>
#include <ember/core/tensor.h>

namespace ember::nn::init {

// (fan_in, fan_out) of a weight: dim 1 and dim 0 times the receptive field (the dims after 1).
std::pair<int64_t, int64_t> fan_in_and_out(const Tensor& weight);

// Uniform(-bound, bound) with bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
// With a = sqrt(5) (PyTorch's Linear/Conv default) the bound is 1 / sqrt(fan_in).
void kaiming_uniform_(Tensor& weight, double a, Generator* generator = nullptr);
// Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default bias of Linear and Conv.
void bias_uniform_(Tensor& bias, int64_t fan_in, Generator* generator = nullptr);

}  // namespace ember::nn::init
