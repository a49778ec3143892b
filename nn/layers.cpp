#include <ember/nn/layers.h>

#include <sstream>

#include <ember/ops/ops.h>

namespace ember::nn {

MaxPool2d::MaxPool2d(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride, std::array<int64_t, 2> padding)
    : Module("MaxPool2d"), kernel_(kernel), stride_(stride), padding_(padding) {
  EMBER_CHECK(kernel[0] > 0 && kernel[1] > 0, "MaxPool2d: kernel size must be positive, got (", kernel[0], ", ",
              kernel[1], ")");
  if (stride_[0] == 0 && stride_[1] == 0) stride_ = kernel_;
}

Tensor MaxPool2d::forward(const Tensor& input) { return max_pool2d(input, kernel_, stride_, padding_); }

std::string MaxPool2d::extra_repr() const {
  std::ostringstream s;
  s << "kernel_size=(" << kernel_[0] << ", " << kernel_[1] << "), stride=(" << stride_[0] << ", " << stride_[1]
    << "), padding=(" << padding_[0] << ", " << padding_[1] << ")";
  return s.str();
}

Tensor ReLU::forward(const Tensor& input) { return relu(input); }

Dropout::Dropout(double p) : Module("Dropout"), p_(p) {
  EMBER_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& input) { return dropout(input, p_, is_training()); }

std::string Dropout::extra_repr() const {
  std::ostringstream s;
  s << "p=" << p_;
  return s.str();
}

Tensor Flatten::forward(const Tensor& input) { return input.flatten(start_dim_, end_dim_); }

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_);
}

Tensor LogSoftmax::forward(const Tensor& input) { return log_softmax(input, dim_); }

}  // namespace ember::nn
