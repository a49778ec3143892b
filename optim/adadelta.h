// Adadelta with PyTorch's semantics (rho-averaged squared gradients and squared updates, lr
// scaling the update; default lr 1.0, rho 0.9, eps 1e-6).
#pragma once
#include <ember/optim/optimizer.h>

namespace ember::optim {

struct AdadeltaOptions {
  explicit AdadeltaOptions(double lr = 1.0) : lr_(lr) {}
  AdadeltaOptions& rho(double r) { rho_ = r; return *this; }
  AdadeltaOptions& eps(double e) { eps_ = e; return *this; }
  AdadeltaOptions& weight_decay(double w) { weight_decay_ = w; return *this; }
  // As Adam's: the step count lives on the device and advances there, so that a step replayed
  // from a CUDA graph counts (Adadelta's update itself does not read it).
  AdadeltaOptions& capturable(bool c) { capturable_ = c; return *this; }
  double lr_;
  double rho_ = 0.9, eps_ = 1e-6, weight_decay_ = 0.0;
  bool capturable_ = false;
};

class Adadelta : public Optimizer {
 public:
  Adadelta(TensorList parameters, const AdadeltaOptions& options);
  void step() override;
  const AdadeltaOptions& options() const { return options_; }

 protected:
  std::pair<std::string, std::string> slot_names() const override { return {"square_avg", "acc_delta"}; }
  std::map<std::string, double> hyper_scalars() const override;
  void check_hyper_scalars(const std::map<std::string, double>& scalars) const override;
  void set_hyper_scalars(const std::map<std::string, double>& scalars) override;

 private:
  // The options with the state's values, checked as the constructor checks them.
  AdadeltaOptions restored_options(const std::map<std::string, double>& scalars) const;
  AdadeltaOptions options_;
};

}  // namespace ember::optim
