// optim::Optimizer: a list of parameters updated from their .grad by a fused kernel per step.
// Per-parameter state (momentum buffers, moment estimates, step counts) is created on the first
// step that sees the parameter's gradient, as in PyTorch.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::optim {

// Optimizer state as named tensors ("<param index>.<slot>", e.g. "0.momentum_buffer") and named
// scalars ("lr", "initial_lr", "<param index>.step").
struct OptimizerState {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, double> scalars;
};

class Optimizer {
 public:
  Optimizer(TensorList parameters, double lr, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter that has a gradient (parameters without one are left alone).
  virtual void step() = 0;
  void zero_grad(bool set_to_none = false);

  double lr() const { return lr_; }
  void set_lr(double lr);
  // The lr a schedule starts from (PyTorch's param_group["initial_lr"]): unset until the first
  // scheduler made on this optimizer sets it to the lr of that moment. state_dict saves it as the
  // scalar "initial_lr" (the current lr while unset) and load_state_dict restores it, so that a
  // scheduler made after loading starts from the first run's lr, not the decayed one. A state
  // without it (saved before Ember kept it) leaves it as it was or, when unset, sets it to the lr
  // the optimizer had before loading: the one it was made with, for a run resumed with its options.
  std::optional<double> initial_lr() const { return initial_lr_; }
  void set_initial_lr(double lr);
  const TensorList& parameters() const { return parameters_; }
  const std::string& name() const { return name_; }

  OptimizerState state_dict() const;
  // Restores state saved by state_dict() of an optimizer of the same kind over parameters of the
  // same shapes (and the lr, initial_lr and hyperparameters); throws naming the first key that
  // does not fit.
  // Every value is checked before any is applied: a refused state leaves the optimizer as it was.
  void load_state_dict(const OptimizerState& state);
  // Throws what load_state_dict(state) would, changing nothing (load_checkpoint checks the whole
  // checkpoint before it writes any of it).
  void check_state_dict(const OptimizerState& state) const;

 protected:
  struct ParamState {
    Tensor state1, state2;  // meaning per optimizer, see slot_names()
    int64_t step = 0;
    // Capturable optimizers: the step count as a float64 scalar on the parameter's device, advanced
    // by a kernel (then `step` holds only the count it started from). The state dict holds the
    // count as the scalar "<i>.step" either way, so checkpoints move between the two kinds.
    Tensor step_tensor;
  };
  // Names of state1/state2 in the state dict ("" when unused).
  virtual std::pair<std::string, std::string> slot_names() const = 0;
  // Hyperparameters other than lr, saved as scalars; load_state_dict restores them (as PyTorch
  // restores its param_groups) through set_hyper_scalars, after check_hyper_scalars has checked
  // them as the constructor does (throwing there, before the optimizer changes).
  virtual std::map<std::string, double> hyper_scalars() const { return {}; }
  virtual void check_hyper_scalars(const std::map<std::string, double>& /*scalars*/) const {}
  virtual void set_hyper_scalars(const std::map<std::string, double>& /*scalars*/) {}
  // scalars[key] into `into`, when the state has it.
  static void restore_scalar(const std::map<std::string, double>& scalars, const std::string& key, double& into) {
    auto found = scalars.find(key);
    if (found != scalars.end()) into = found->second;
  }
  // Whether "<i>.step" is part of the state (SGD: no; a loaded one is then ignored).
  virtual bool keeps_step_count() const { return true; }

  // Indices of the parameters that have a gradient, grouped by (device, dtype): one fused kernel
  // call per group.
  std::vector<std::vector<size_t>> parameter_groups() const;
  // A contiguous gradient of parameter i (a copy only when the stored grad is strided).
  Tensor contiguous_grad(size_t i) const;
  // Parameter i's state for this step: state1 (and state2 when two_states) created as zeros on
  // first use, and the step count advanced. device_step: the count is step_tensor instead,
  // created from `step` on first use and left for the caller's kernel to advance.
  ParamState& advance_state(size_t i, bool two_states, bool device_step = false);
  // Call after a group's update kernel: its parameters were written in place, so a graph that
  // saved them before the step refuses to run backward (as after torch's optimizer.step()).
  void mark_updated(const std::vector<size_t>& group) const;

  TensorList parameters_;
  std::vector<ParamState> state_;
  double lr_;

 private:
  std::string name_;
  std::optional<double> initial_lr_;
};

}  // namespace ember::optim
