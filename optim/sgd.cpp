#include <ember/optim/sgd.h>

#include <ember/kernels/dispatch.h>
#include <ember/kernels/optim.h>

namespace ember::optim {

namespace {
void check_options(const SGDOptions& options) {
  EMBER_CHECK(options.momentum_ >= 0.0 && options.weight_decay_ >= 0.0, "SGD: momentum (", options.momentum_,
              ") and weight_decay (", options.weight_decay_, ") must be >= 0");
  EMBER_CHECK(!options.nesterov_ || (options.momentum_ > 0.0 && options.dampening_ == 0.0),
              "SGD: nesterov needs momentum > 0 and dampening == 0");
}
}  // namespace

SGD::SGD(TensorList parameters, const SGDOptions& options)
    : Optimizer(std::move(parameters), options.lr_, "SGD"), options_(options) {
  check_options(options_);
}

void SGD::step() {
  kernels::SgdHyper hyper{lr_, options_.momentum_, options_.dampening_, options_.weight_decay_, options_.nesterov_};
  for (const auto& group : parameter_groups()) {
    std::vector<kernels::OptimSlot> slots;
    for (size_t i : group) {
      kernels::OptimSlot slot;
      slot.param = parameters_[i];
      slot.grad = contiguous_grad(i);
      ParamState& s = state_[i];
      if (options_.momentum_ != 0.0) {
        slot.first_step = !s.state1.defined();
        if (slot.first_step) s.state1 = empty(slot.param.sizes(), TensorOptions(slot.param.dtype()).with_device(slot.param.device()));
        slot.state1 = s.state1;
      }
      slots.push_back(std::move(slot));
    }
    Device device = slots.front().param.device();
    EMBER_KERNEL(device, sgd_update, slots, hyper);
    mark_updated(group);
  }
}

std::map<std::string, double> SGD::hyper_scalars() const {
  return {{"momentum", options_.momentum_},
          {"dampening", options_.dampening_},
          {"weight_decay", options_.weight_decay_},
          {"nesterov", options_.nesterov_ ? 1.0 : 0.0}};
}

SGDOptions SGD::restored_options(const std::map<std::string, double>& scalars) const {
  SGDOptions options = options_;
  restore_scalar(scalars, "momentum", options.momentum_);
  restore_scalar(scalars, "dampening", options.dampening_);
  restore_scalar(scalars, "weight_decay", options.weight_decay_);
  double nesterov = options.nesterov_ ? 1.0 : 0.0;
  restore_scalar(scalars, "nesterov", nesterov);
  options.nesterov_ = nesterov != 0.0;
  check_options(options);
  return options;
}

void SGD::check_hyper_scalars(const std::map<std::string, double>& scalars) const { restored_options(scalars); }

void SGD::set_hyper_scalars(const std::map<std::string, double>& scalars) { options_ = restored_options(scalars); }

}  // namespace ember::optim
