// SGD with PyTorch's semantics: weight decay added to the gradient, the momentum buffer set to the
// gradient on its first step and then b = momentum b + (1 - dampening) g, optional Nesterov. As in
// PyTorch it keeps no step count (whether the momentum buffer exists says which step is the first),
// so a step replayed from a CUDA graph leaves no host state behind.
#pragma once
#include <ember/optim/optimizer.h>

namespace ember::optim {

struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  SGDOptions& momentum(double m) { momentum_ = m; return *this; }
  SGDOptions& dampening(double d) { dampening_ = d; return *this; }
  SGDOptions& weight_decay(double w) { weight_decay_ = w; return *this; }
  SGDOptions& nesterov(bool n) { nesterov_ = n; return *this; }
  double lr_;
  double momentum_ = 0.0, dampening_ = 0.0, weight_decay_ = 0.0;
  bool nesterov_ = false;
};

class SGD : public Optimizer {
 public:
  SGD(TensorList parameters, const SGDOptions& options);
  void step() override;
  const SGDOptions& options() const { return options_; }

 protected:
  std::pair<std::string, std::string> slot_names() const override { return {"momentum_buffer", ""}; }
  std::map<std::string, double> hyper_scalars() const override;
  void check_hyper_scalars(const std::map<std::string, double>& scalars) const override;
  void set_hyper_scalars(const std::map<std::string, double>& scalars) override;
  bool keeps_step_count() const override { return false; }

 private:
  // The options with the state's values, checked as the constructor checks them.
  SGDOptions restored_options(const std::map<std::string, double>& scalars) const;
  SGDOptions options_;
};

}  // namespace ember::optim
