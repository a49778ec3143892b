// The classic MNIST Net: conv1 1->10 k5, maxpool2, relu, conv2 10->20 k5, maxpool2, relu,
// flatten 320, fc1 320->50, relu, fc2 50->10, log_softmax. Parameter names match PyTorch's Net
// (conv1.weight ... fc2.bias), so state dicts move between the two.
#pragma once
#include <memory>

#include <ember/core/random.h>
#include <ember/nn/conv.h>
#include <ember/nn/linear.h>
#include <ember/nn/module.h>

namespace ember::nn {

class MnistNet : public Module {
 public:
  explicit MnistNet(Generator* generator = nullptr);
  // x (N, 1, 28, 28) -> log-probabilities (N, 10).
  Tensor forward(const Tensor& x) override;
  // The same without the final log_softmax: logits for the fused cross_entropy.
  Tensor forward_logits(const Tensor& x);

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Linear> fc1, fc2;
};

}  // namespace ember::nn
