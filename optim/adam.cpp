#include <ember/optim/adam.h>

#include <cmath>

#include <ember/kernels/dispatch.h>
#include <ember/kernels/optim.h>

namespace ember::optim {

namespace {
// Options with the weight decay resolved (with_default_weight_decay).
void check_options(const AdamOptions& options, const std::string& name) {
  EMBER_CHECK(options.beta1_ >= 0.0 && options.beta1_ < 1.0 && options.beta2_ >= 0.0 && options.beta2_ < 1.0, name,
              ": betas must be in [0, 1), got (", options.beta1_, ", ", options.beta2_, ")");
  EMBER_CHECK(options.eps_ >= 0.0 && *options.weight_decay_ >= 0.0, name, ": eps (", options.eps_,
              ") and weight_decay (", *options.weight_decay_, ") must be >= 0");
}
// An unset weight decay becomes the optimizer's default.
AdamOptions with_default_weight_decay(AdamOptions options, bool decoupled) {
  if (!options.weight_decay_) options.weight_decay_ = decoupled ? 1e-2 : 0.0;
  return options;
}
}  // namespace

Adam::Adam(TensorList parameters, const AdamOptions& options, bool decoupled, std::string name)
    : Optimizer(std::move(parameters), options.lr_, name),
      options_(with_default_weight_decay(options, decoupled)),
      decoupled_(decoupled) {
  check_options(options_, this->name());
}

void Adam::step() {
  kernels::AdamHyper hyper{lr_, options_.beta1_, options_.beta2_, options_.eps_, *options_.weight_decay_, decoupled_};
  for (const auto& group : parameter_groups()) {
    std::vector<kernels::OptimSlot> slots;
    for (size_t i : group) {
      kernels::OptimSlot slot;
      slot.param = parameters_[i];
      slot.grad = contiguous_grad(i);
      ParamState& s = advance_state(i, true, options_.capturable_);
      slot.state1 = s.state1;
      slot.state2 = s.state2;
      if (options_.capturable_) {
        // The kernels advance and read the device count: nothing here depends on the step.
        slot.step = s.step_tensor;
      } else {
        slot.bias_correction1 = 1.0 - std::pow(options_.beta1_, static_cast<double>(s.step));
        slot.bias_correction2 = 1.0 - std::pow(options_.beta2_, static_cast<double>(s.step));
      }
      slots.push_back(std::move(slot));
    }
    Device device = slots.front().param.device();
    if (options_.capturable_) EMBER_KERNEL(device, increment_step, slots);
    EMBER_KERNEL(device, adam_update, slots, hyper);
    mark_updated(group);
  }
}

std::map<std::string, double> Adam::hyper_scalars() const {
  return {{"beta1", options_.beta1_}, {"beta2", options_.beta2_}, {"eps", options_.eps_},
          {"weight_decay", *options_.weight_decay_}};
}

AdamOptions Adam::restored_options(const std::map<std::string, double>& scalars) const {
  AdamOptions options = options_;
  restore_scalar(scalars, "beta1", options.beta1_);
  restore_scalar(scalars, "beta2", options.beta2_);
  restore_scalar(scalars, "eps", options.eps_);
  double weight_decay = *options.weight_decay_;
  restore_scalar(scalars, "weight_decay", weight_decay);
  options.weight_decay_ = weight_decay;
  check_options(options, name());
  return options;
}

void Adam::check_hyper_scalars(const std::map<std::string, double>& scalars) const { restored_options(scalars); }

void Adam::set_hyper_scalars(const std::map<std::string, double>& scalars) { options_ = restored_options(scalars); }

}  // namespace ember::optim
