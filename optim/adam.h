// Adam and AdamW with PyTorch's semantics: bias-corrected moment estimates; Adam adds weight decay
// to the gradient, AdamW decays the parameter directly (p *= 1 - lr * weight_decay).
#pragma once
#include <optional>

#include <ember/optim/optimizer.h>

namespace ember::optim {

struct AdamOptions {
  explicit AdamOptions(double lr = 1e-3) : lr_(lr) {}
  AdamOptions& betas(double beta1, double beta2) { beta1_ = beta1; beta2_ = beta2; return *this; }
  AdamOptions& eps(double e) { eps_ = e; return *this; }
  AdamOptions& weight_decay(double w) { weight_decay_ = w; return *this; }
  // PyTorch's capturable: the step counts live on the parameters' device and the bias corrections
  // are computed there, so that step() can be captured in a CUDA graph and replayed (each replay
  // advances the counts). Same numbers as the default; one more small launch per step.
  AdamOptions& capturable(bool c) { capturable_ = c; return *this; }
  double lr_;
  double beta1_ = 0.9, beta2_ = 0.999, eps_ = 1e-8;
  // Unset means the optimizer's default, as in PyTorch: 0 for Adam, 1e-2 for AdamW. An explicit
  // value, 0 included, is kept; an optimizer's options() holds the value in use (always set).
  std::optional<double> weight_decay_;
  bool capturable_ = false;
};

class Adam : public Optimizer {
 public:
  Adam(TensorList parameters, const AdamOptions& options) : Adam(std::move(parameters), options, false, "Adam") {}
  void step() override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(TensorList parameters, const AdamOptions& options, bool decoupled, std::string name);
  std::pair<std::string, std::string> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  std::map<std::string, double> hyper_scalars() const override;
  void check_hyper_scalars(const std::map<std::string, double>& scalars) const override;
  void set_hyper_scalars(const std::map<std::string, double>& scalars) override;

 private:
  // The options with the state's values, checked as the constructor checks them.
  AdamOptions restored_options(const std::map<std::string, double>& scalars) const;
  AdamOptions options_;
  bool decoupled_;
};

// Unless the options set weight_decay, AdamW decays by 1e-2 (torch.optim.AdamW's default).
class AdamW : public Adam {
 public:
  AdamW(TensorList parameters, const AdamOptions& options) : Adam(std::move(parameters), options, true, "AdamW") {}
};

}  // namespace ember::optim
