// nn::Conv2d: 2-D convolution, weight (out, in, kh, kw), bias (out), initialised like torch.nn.Conv2d.
#pragma once
#include <array>

#include <ember/core/random.h>
#include <ember/nn/module.h>
#include <ember/ops/ops.h>

namespace ember::nn {

using Size2 = std::array<int64_t, 2>;

struct Conv2dOptions {
  Conv2dOptions(int64_t in, int64_t out, int64_t kernel) : Conv2dOptions(in, out, Size2{kernel, kernel}) {}
  Conv2dOptions(int64_t in, int64_t out, Size2 kernel) : in_channels(in), out_channels(out), kernel_size(kernel) {}
  Conv2dOptions& stride(int64_t s) { params.stride = {s, s}; return *this; }
  Conv2dOptions& padding(int64_t p) { params.padding = {p, p}; return *this; }
  Conv2dOptions& dilation(int64_t d) { params.dilation = {d, d}; return *this; }
  Conv2dOptions& bias(bool on) { with_bias = on; return *this; }
  int64_t in_channels;
  int64_t out_channels;
  Size2 kernel_size;
  Conv2dParams params;
  bool with_bias = true;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options, Generator* generator = nullptr);
  Tensor forward(const Tensor& input) override;
  // Redraws weight (kaiming_uniform_, a = sqrt(5)) and bias (uniform +-1/sqrt(in * kh * kw)).
  void reset_parameters(Generator* generator = nullptr);
  std::string extra_repr() const override;

  const Conv2dOptions& options() const { return options_; }
  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  Conv2dOptions options_;
};

}  // namespace ember::nn
