// nn::Module: the base of every layer and model, in the mould of torch::nn::Module.
// A module owns named parameters (leaf tensors that require grad), named buffers (state that is
// saved but not trained) and named submodules; names are dotted paths ("conv1.weight").
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string name = "Module") : type_name_(std::move(name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The layer's computation, for modules with one input and one output.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // In registration order, recursing into submodules (this module's own first). A tensor
  // registered under several names (tied weights, a submodule used twice) is listed once, under
  // its first name, as in PyTorch; state_dict() keeps every name.
  NamedTensors named_parameters(bool recurse = true) const;
  TensorList parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }

  // Virtual, as libtorch's: eval() and a parent's train()/eval() reach a subclass's override (which
  // should call Module::train(on) so that its own flag and its children follow).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves parameters and buffers (keeping them leaves that require grad) and their grads.
  virtual void to(Device device);
  // Zeroes every parameter's grad in place (keeps grads that are views, e.g. DDP buckets);
  // set_to_none drops them instead.
  void zero_grad(bool set_to_none = false);

  // Parameters and buffers by dotted name, every name of a shared tensor included (as PyTorch's);
  // load_state_dict copies values in place and checks that names, shapes and dtypes match
  // (strict: no missing or unexpected keys). Every entry is checked before any is copied, so a
  // refused state leaves the module as it was; check_state_dict throws what loading would, loading
  // nothing (load_checkpoint checks the model and the optimizer parts before writing either).
  std::map<std::string, Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  void check_state_dict(const std::map<std::string, Tensor>& state, bool strict = true) const;

  const std::string& type_name() const { return type_name_; }
  std::string describe(int indent = 0) const;  // a tree like PyTorch's module printout (also operator<<)
  // The layer's settings inside the parentheses of describe(), e.g. "1, 10, kernel_size=(5, 5)".
  virtual std::string extra_repr() const { return ""; }

 protected:
  // A name may be registered once, as a parameter, a buffer or a submodule: a second registration
  // of a name this module already uses throws (PyTorch: "attribute '...' already exists"), and so
  // does an undefined parameter or buffer (unlike PyTorch, which takes None for either).
  Tensor& register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_submodule(name, module.get());
    children_.emplace_back(name, module);
    return module;
  }
  // Replaces a parameter's tensor (e.g. after moving it), keeping its registration slot.
  void replace_parameter(const std::string& name, Tensor value);

 private:
  // Refuses an empty or dotted name, or one this module already uses for anything.
  void check_new_name(const char* kind, const std::string& name) const;
  void check_new_submodule(const std::string& name, const Module* module) const;
  // Every (name, tensor), a shared tensor under each of its names.
  void collect_parameters(const std::string& prefix, NamedTensors& out) const;
  void collect_buffers(const std::string& prefix, NamedTensors& out) const;

  std::string type_name_;
  bool training_ = true;
  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// std::cout << *net prints describe(), as printing a module does in PyTorch.
inline std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.describe(); }

}  // namespace ember::nn
