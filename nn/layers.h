// Parameter-free layers: MaxPool2d, ReLU, Dropout, Flatten, LogSoftmax.
#pragma once
#include <array>

#include <ember/nn/module.h>

namespace ember::nn {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel) : MaxPool2d(std::array<int64_t, 2>{kernel, kernel}) {}
  // stride {0, 0}: the kernel size, as in PyTorch.
  explicit MaxPool2d(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride = {0, 0},
                     std::array<int64_t, 2> padding = {0, 0});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  std::array<int64_t, 2> kernel_, stride_, padding_;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& input) override;
};

// Zeroes elements with probability p while training (scaling the rest by 1/(1-p)); identity in eval.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  double p() const { return p_; }

 private:
  double p_;
};

// Flattens dims [start_dim, end_dim] into one (default: all but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

 private:
  int64_t start_dim_, end_dim_;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim) : Module("LogSoftmax"), dim_(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override { return "dim=" + std::to_string(dim_); }

 private:
  int64_t dim_;
};

}  // namespace ember::nn
