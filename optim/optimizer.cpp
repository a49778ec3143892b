#include <ember/optim/optimizer.h>

#include <cmath>
#include <set>

#include <ember/autograd/grad_mode.h>
#include <ember/core/error.h>

namespace ember::optim {

Optimizer::Optimizer(TensorList parameters, double lr, std::string name)
    : parameters_(std::move(parameters)), state_(parameters_.size()), lr_(lr), name_(std::move(name)) {
  EMBER_CHECK(lr >= 0.0, name_, ": learning rate must be >= 0, got ", lr);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    EMBER_CHECK(p.defined() && is_floating(p.dtype()), name_, ": parameter ", i, " must be a defined floating tensor");
    // As PyTorch: any leaf, a frozen one (requires_grad false) included, since step() skips
    // parameters without a gradient; a non-leaf is refused ("can't optimize a non-leaf Tensor").
    EMBER_CHECK(p.is_leaf(), name_, ": parameter ", i, " is not a leaf (it has a grad_fn), cannot optimize it: ",
                p.str());
    for (size_t j = 0; j < i; ++j) {
      EMBER_CHECK(!parameters_[j].is_same(p), name_, ": parameters ", j, " and ", i,
                  " are the same tensor (it would be updated twice per step)");
    }
  }
}

void Optimizer::set_lr(double lr) {
  EMBER_CHECK(lr >= 0.0, name_, ": learning rate must be >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::set_initial_lr(double lr) {
  EMBER_CHECK(lr >= 0.0, name_, ": initial learning rate must be >= 0, got ", lr);
  initial_lr_ = lr;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const Tensor& p : parameters_) {
    Tensor grad = p.grad();
    if (!grad.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      grad.zero_();
    }
  }
}

std::vector<std::vector<size_t>> Optimizer::parameter_groups() const {
  std::vector<std::vector<size_t>> groups;
  std::vector<std::pair<Device, DType>> keys;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    if (!p.grad().defined()) continue;
    EMBER_CHECK(p.is_contiguous(), name_, ": parameter ", i, " is not contiguous: ", p.str());
    size_t g = 0;
    while (g < keys.size() && !(keys[g].first == p.device() && keys[g].second == p.dtype())) ++g;
    if (g == keys.size()) {
      keys.emplace_back(p.device(), p.dtype());
      groups.emplace_back();
    }
    groups[g].push_back(i);
  }
  return groups;
}

Tensor Optimizer::contiguous_grad(size_t i) const {
  Tensor grad = parameters_[i].grad();
  const Tensor& p = parameters_[i];
  EMBER_CHECK(grad.sizes() == p.sizes() && grad.dtype() == p.dtype() && grad.device() == p.device(), name_,
              ": gradient ", grad.str(), " does not match parameter ", i, " ", p.str());
  NoGradGuard no_grad;
  return grad.contiguous();
}

void Optimizer::mark_updated(const std::vector<size_t>& group) const {
  for (size_t i : group) parameters_[i].bump_version();
}

Optimizer::ParamState& Optimizer::advance_state(size_t i, bool two_states, bool device_step) {
  ParamState& s = state_[i];
  const Tensor& p = parameters_[i];
  TensorOptions like = TensorOptions(p.dtype()).with_device(p.device());
  if (!s.state1.defined()) s.state1 = zeros(p.sizes(), like);
  if (two_states && !s.state2.defined()) s.state2 = zeros(p.sizes(), like);
  if (!device_step) {
    ++s.step;
  } else if (!s.step_tensor.defined()) {
    s.step_tensor = full({}, static_cast<double>(s.step), TensorOptions(kFloat64).with_device(p.device()));
  }
  return s;
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState out;
  out.scalars["lr"] = lr_;
  out.scalars["initial_lr"] = initial_lr_.value_or(lr_);
  for (auto& [key, value] : hyper_scalars()) out.scalars[key] = value;
  auto [name1, name2] = slot_names();
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& s = state_[i];
    std::string prefix = std::to_string(i) + ".";
    // A device count is read back here (a synchronisation, once per save).
    double step = s.step_tensor.defined() ? s.step_tensor.item() : static_cast<double>(s.step);
    if (step > 0) out.scalars[prefix + "step"] = step;
    if (s.state1.defined() && !name1.empty()) out.tensors[prefix + name1] = s.state1;
    if (s.state2.defined() && !name2.empty()) out.tensors[prefix + name2] = s.state2;
  }
  return out;
}

void Optimizer::check_state_dict(const OptimizerState& state) const {
  auto [name1, name2] = slot_names();
  std::set<std::string> known;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    std::string prefix = std::to_string(i) + ".";
    known.insert(prefix + "step");
    auto step = state.scalars.find(prefix + "step");
    if (step != state.scalars.end() && keeps_step_count()) {
      double count = step->second;
      EMBER_CHECK(count >= 0 && count == std::floor(count) && count <= 9007199254740992.0, name_,
                  ".load_state_dict: '", prefix, "step' must be a whole number >= 0, got ", count);
    }
    for (const std::string& slot : {name1, name2}) {
      if (slot.empty()) continue;
      known.insert(prefix + slot);
      auto found = state.tensors.find(prefix + slot);
      if (found == state.tensors.end()) continue;
      const Tensor& value = found->second;
      EMBER_CHECK(value.defined(), name_, ".load_state_dict: '", prefix + slot, "' is an undefined tensor");
      EMBER_CHECK(value.sizes() == p.sizes(), name_, ".load_state_dict: '", prefix + slot, "' has shape ",
                  shape_str(value.sizes()), " but parameter ", i, " has ", shape_str(p.sizes()));
    }
  }
  for (auto& [key, value] : state.tensors) {
    EMBER_CHECK(known.count(key), name_, ".load_state_dict: unexpected state tensor '", key,
                "' (the optimizer has ", parameters_.size(), " parameters)");
  }
  auto lr = state.scalars.find("lr");
  if (lr != state.scalars.end()) {
    EMBER_CHECK(lr->second >= 0.0, name_, ".load_state_dict: learning rate must be >= 0, got ", lr->second);
  }
  auto initial_lr = state.scalars.find("initial_lr");
  if (initial_lr != state.scalars.end()) {
    EMBER_CHECK(initial_lr->second >= 0.0, name_, ".load_state_dict: initial_lr must be >= 0, got ",
                initial_lr->second);
  }
  check_hyper_scalars(state.scalars);
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  // Everything is checked before anything changes: a refused state leaves the optimizer as it was.
  check_state_dict(state);
  auto [name1, name2] = slot_names();
  std::vector<ParamState> loaded(parameters_.size());
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    std::string prefix = std::to_string(i) + ".";
    auto step = state.scalars.find(prefix + "step");
    if (step != state.scalars.end() && keeps_step_count()) loaded[i].step = static_cast<int64_t>(step->second);
    auto take = [&](const std::string& slot, Tensor& into) {
      if (slot.empty()) return;
      auto found = state.tensors.find(prefix + slot);
      if (found == state.tensors.end()) return;
      NoGradGuard no_grad;
      into = empty(p.sizes(), TensorOptions(p.dtype()).with_device(p.device()));
      into.copy_(found->second.to(p.dtype()));
    };
    take(name1, loaded[i].state1);
    take(name2, loaded[i].state2);
  }
  auto lr = state.scalars.find("lr");
  double before = lr_;
  if (lr != state.scalars.end()) lr_ = lr->second;
  set_hyper_scalars(state.scalars);
  auto initial_lr = state.scalars.find("initial_lr");
  if (initial_lr != state.scalars.end()) initial_lr_ = initial_lr->second;
  else if (!initial_lr_) initial_lr_ = before;  // a state saved before Ember kept initial_lr
  state_ = std::move(loaded);
}

}  // namespace ember::optim
