// nn::Linear: y = x W^T + b, W (out, in), b (out), initialised like torch.nn.Linear.
#pragma once
#include <ember/core/random.h>
#include <ember/nn/module.h>

namespace ember::nn {

struct LinearOptions {
  LinearOptions(int64_t in, int64_t out) : in_features(in), out_features(out) {}
  LinearOptions& bias(bool on) { with_bias = on; return *this; }
  int64_t in_features;
  int64_t out_features;
  bool with_bias = true;
};

class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator* generator = nullptr);
  Linear(int64_t in_features, int64_t out_features, Generator* generator = nullptr)
      : Linear(LinearOptions(in_features, out_features), generator) {}
  Tensor forward(const Tensor& input) override;
  // Redraws weight (kaiming_uniform_, a = sqrt(5)) and bias (uniform +-1/sqrt(in_features)).
  void reset_parameters(Generator* generator = nullptr);
  std::string extra_repr() const override;

  const LinearOptions& options() const { return options_; }
  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  LinearOptions options_;
};

}  // namespace ember::nn
