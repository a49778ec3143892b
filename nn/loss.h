// Loss modules over (input, target): CrossEntropyLoss takes logits, NLLLoss log-probabilities,
// both with int64 class indices of shape (N) as targets; MSELoss takes a target of the input's shape.
#pragma once
#include <ember/nn/module.h>
#include <ember/ops/ops.h>

namespace ember::nn {

class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(Reduction reduction = Reduction::Mean) : Module("CrossEntropyLoss"), reduction_(reduction) {}
  using Module::forward;
  Tensor forward(const Tensor& logits, const Tensor& target) const;
  Tensor operator()(const Tensor& logits, const Tensor& target) const { return forward(logits, target); }

 private:
  Reduction reduction_;
};

class NLLLoss : public Module {
 public:
  explicit NLLLoss(Reduction reduction = Reduction::Mean) : Module("NLLLoss"), reduction_(reduction) {}
  using Module::forward;
  Tensor forward(const Tensor& log_probs, const Tensor& target) const;
  Tensor operator()(const Tensor& log_probs, const Tensor& target) const { return forward(log_probs, target); }

 private:
  Reduction reduction_;
};

class MSELoss : public Module {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : Module("MSELoss"), reduction_(reduction) {}
  using Module::forward;
  Tensor forward(const Tensor& input, const Tensor& target) const;
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
};

}  // namespace ember::nn
