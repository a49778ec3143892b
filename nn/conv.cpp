#include <ember/nn/conv.h>

#include <cmath>

#include <ember/nn/init.h>

namespace ember::nn {

namespace {
std::string pair_str(const Size2& p) { return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")"; }
}  // namespace

Conv2d::Conv2d(const Conv2dOptions& options, Generator* generator) : Module("Conv2d"), options_(options) {
  EMBER_CHECK(options.in_channels > 0 && options.out_channels > 0 && options.kernel_size[0] > 0 &&
                  options.kernel_size[1] > 0,
              "Conv2d: channels and kernel size must be positive, got in=", options.in_channels,
              " out=", options.out_channels, " kernel=", pair_str(options.kernel_size));
  weight = register_parameter(
      "weight", empty({options.out_channels, options.in_channels, options.kernel_size[0], options.kernel_size[1]}));
  if (options.with_bias) bias = register_parameter("bias", empty({options.out_channels}));
  reset_parameters(generator);
}

void Conv2d::reset_parameters(Generator* generator) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), generator);
  if (bias.defined()) init::bias_uniform_(bias, init::fan_in_and_out(weight).first, generator);
}

Tensor Conv2d::forward(const Tensor& input) { return conv2d(input, weight, bias, options_.params); }

std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(options_.in_channels) + ", " + std::to_string(options_.out_channels) +
                  ", kernel_size=" + pair_str(options_.kernel_size) + ", stride=" + pair_str(options_.params.stride);
  if (options_.params.padding != Size2{0, 0}) s += ", padding=" + pair_str(options_.params.padding);
  if (options_.params.dilation != Size2{1, 1}) s += ", dilation=" + pair_str(options_.params.dilation);
  if (!options_.with_bias) s += ", bias=False";
  return s;
}

}  // namespace ember::nn
