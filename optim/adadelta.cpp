#include <ember/optim/adadelta.h>

#include <ember/kernels/dispatch.h>
#include <ember/kernels/optim.h>

namespace ember::optim {

namespace {
void check_options(const AdadeltaOptions& options) {
  EMBER_CHECK(options.rho_ >= 0.0 && options.rho_ <= 1.0, "Adadelta: rho must be in [0, 1], got ", options.rho_);
  EMBER_CHECK(options.eps_ >= 0.0 && options.weight_decay_ >= 0.0, "Adadelta: eps (", options.eps_,
              ") and weight_decay (", options.weight_decay_, ") must be >= 0");
}
}  // namespace

Adadelta::Adadelta(TensorList parameters, const AdadeltaOptions& options)
    : Optimizer(std::move(parameters), options.lr_, "Adadelta"), options_(options) {
  check_options(options_);
}

void Adadelta::step() {
  kernels::AdadeltaHyper hyper{lr_, options_.rho_, options_.eps_, options_.weight_decay_};
  for (const auto& group : parameter_groups()) {
    std::vector<kernels::OptimSlot> slots;
    for (size_t i : group) {
      kernels::OptimSlot slot;
      slot.param = parameters_[i];
      slot.grad = contiguous_grad(i);
      ParamState& s = advance_state(i, true, options_.capturable_);
      slot.state1 = s.state1;
      slot.state2 = s.state2;
      if (options_.capturable_) slot.step = s.step_tensor;
      slots.push_back(std::move(slot));
    }
    Device device = slots.front().param.device();
    if (options_.capturable_) EMBER_KERNEL(device, increment_step, slots);
    EMBER_KERNEL(device, adadelta_update, slots, hyper);
    mark_updated(group);
  }
}

std::map<std::string, double> Adadelta::hyper_scalars() const {
  return {{"rho", options_.rho_}, {"eps", options_.eps_}, {"weight_decay", options_.weight_decay_}};
}

AdadeltaOptions Adadelta::restored_options(const std::map<std::string, double>& scalars) const {
  AdadeltaOptions options = options_;
  restore_scalar(scalars, "rho", options.rho_);
  restore_scalar(scalars, "eps", options.eps_);
  restore_scalar(scalars, "weight_decay", options.weight_decay_);
  check_options(options);
  return options;
}

void Adadelta::check_hyper_scalars(const std::map<std::string, double>& scalars) const { restored_options(scalars); }

void Adadelta::set_hyper_scalars(const std::map<std::string, double>& scalars) { options_ = restored_options(scalars); }

}  // namespace ember::optim
