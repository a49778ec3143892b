// nn::Module: registration, recursive traversal, device moves and state dicts.
#include <ember/nn/module.h>

#include <set>
#include <sstream>

#include <ember/autograd/grad_mode.h>
#include <ember/core/error.h>

namespace ember::nn {

namespace {

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Points `target`'s impl at `source`'s data and geometry, so every handle to the parameter (a
// layer's member, an optimizer's list) sees the moved tensor; autograd metadata is kept.
void rebind_data(const Tensor& target, const Tensor& source) {
  TensorImpl& impl = target.impl();
  impl.storage = source.storage();
  impl.sizes = source.sizes();
  impl.strides = source.strides();
  impl.offset = source.offset();
  impl.dtype = source.dtype();
}

// The first (name, tensor) of each tensor.
NamedTensors without_repeats(NamedTensors all) {
  NamedTensors out;
  std::set<const TensorImpl*> seen;
  for (auto& named : all) {
    if (seen.insert(&named.second.impl()).second) out.push_back(std::move(named));
  }
  return out;
}

}  // namespace

Tensor Module::forward(const Tensor& /*input*/) {
  EMBER_FAIL(type_name_, ": this module has no forward(Tensor); call its own forward overload");
}

void Module::collect_parameters(const std::string& prefix, NamedTensors& out) const {
  for (auto& [name, tensor] : parameters_) out.emplace_back(join_name(prefix, name), tensor);
  for (const auto& [child_name, child] : children_) child->collect_parameters(join_name(prefix, child_name), out);
}

void Module::collect_buffers(const std::string& prefix, NamedTensors& out) const {
  for (auto& [name, tensor] : buffers_) out.emplace_back(join_name(prefix, name), tensor);
  for (const auto& [child_name, child] : children_) child->collect_buffers(join_name(prefix, child_name), out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  if (!recurse) return without_repeats(parameters_);
  NamedTensors all;
  collect_parameters("", all);
  return without_repeats(std::move(all));
}

TensorList Module::parameters(bool recurse) const {
  TensorList out;
  for (auto& named : named_parameters(recurse)) out.push_back(named.second);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  if (!recurse) return without_repeats(buffers_);
  NamedTensors all;
  collect_buffers("", all);
  return without_repeats(std::move(all));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);  // virtual: a child's override runs
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto& [name, param] : parameters_) {
    if (param.device() == device) continue;
    Tensor grad = param.grad();
    rebind_data(param, param.detach().to(device));
    if (grad.defined()) param.set_grad(grad.to(device));
  }
  for (auto& [name, buffer] : buffers_) {
    if (buffer.device() != device) rebind_data(buffer, buffer.to(device));
  }
  for (auto& child : children_) child.second->to(device);
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (Tensor& param : parameters()) {
    Tensor grad = param.grad();
    if (!grad.defined()) continue;
    if (set_to_none) {
      param.set_grad(Tensor());
    } else {
      grad.zero_();  // in place: views of a shared gradient buffer stay valid
    }
  }
}

std::map<std::string, Tensor> Module::state_dict() const {
  NamedTensors all;
  collect_parameters("", all);
  collect_buffers("", all);
  std::map<std::string, Tensor> out;
  for (auto& [name, tensor] : all) out[name] = tensor.detach();
  return out;
}

void Module::check_state_dict(const std::map<std::string, Tensor>& state, bool strict) const {
  // Every name, a shared tensor's included.
  NamedTensors own;
  collect_parameters("", own);
  collect_buffers("", own);
  std::set<std::string> own_names;
  for (auto& [name, tensor] : own) own_names.insert(name);
  if (strict) {
    for (auto& [name, tensor] : own) {
      EMBER_CHECK(state.count(name), "load_state_dict: missing key '", name, "' (", type_name_, " expects ",
                  shape_str(tensor.sizes()), " ", dtype_name(tensor.dtype()), ")");
    }
    for (auto& [name, tensor] : state) {
      EMBER_CHECK(own_names.count(name), "load_state_dict: unexpected key '", name, "' in the state dict of ",
                  type_name_);
    }
  }
  for (auto& [name, tensor] : own) {
    auto found = state.find(name);
    if (found == state.end()) continue;
    const Tensor& value = found->second;
    EMBER_CHECK(value.defined(), "load_state_dict: key '", name, "' holds an undefined tensor");
    EMBER_CHECK(value.sizes() == tensor.sizes(), "load_state_dict: size mismatch for '", name, "': state dict has ",
                shape_str(value.sizes()), ", the model has ", shape_str(tensor.sizes()));
    EMBER_CHECK(value.dtype() == tensor.dtype(), "load_state_dict: dtype mismatch for '", name,
                "': state dict has ", dtype_name(value.dtype()), ", the model has ", dtype_name(tensor.dtype()));
  }
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  // Every entry is checked before any is copied: a refused state leaves the module as it was.
  check_state_dict(state, strict);
  NamedTensors own;
  collect_parameters("", own);
  collect_buffers("", own);
  NoGradGuard no_grad;
  // A shared tensor is written once per name, in order.
  for (auto& [name, tensor] : own) {
    auto found = state.find(name);
    if (found == state.end()) continue;
    Tensor target = tensor.detach();
    target.copy_(found->second);
  }
}

std::string Module::describe(int indent) const {
  std::ostringstream out;
  out << type_name_ << "(";
  if (children_.empty()) {
    out << extra_repr() << ")";
    return out.str();
  }
  std::string pad(static_cast<size_t>(indent) + 2, ' ');
  out << "\n";
  std::string extra = extra_repr();
  if (!extra.empty()) out << pad << extra << "\n";
  for (const auto& [name, child] : children_) out << pad << "(" << name << "): " << child->describe(indent + 2) << "\n";
  out << std::string(static_cast<size_t>(indent), ' ') << ")";
  return out.str();
}

void Module::check_new_name(const char* kind, const std::string& name) const {
  EMBER_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_, ": ", kind,
              " names must be non-empty and contain no '.', got '", name, "'");
  auto used = [&](const auto& entries) {
    for (const auto& entry : entries) {
      if (entry.first == name) return true;
    }
    return false;
  };
  const char* taken = used(parameters_) ? "a parameter"
                      : used(buffers_)  ? "a buffer"
                      : used(children_) ? "a submodule"
                                        : nullptr;
  EMBER_CHECK(taken == nullptr, type_name_, ": cannot register ", kind, " '", name, "': ", taken,
              " of that name already exists");
}

void Module::check_new_submodule(const std::string& name, const Module* module) const {
  check_new_name("submodule", name);
  EMBER_CHECK(module != nullptr, type_name_, ": submodule '", name, "' is null");
}

Tensor& Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name("parameter", name);
  EMBER_CHECK(value.defined(), type_name_, ": parameter '", name, "' is undefined");
  Tensor leaf = value.is_leaf() ? value : value.detach();
  if (requires_grad) leaf.set_requires_grad(true);
  parameters_.emplace_back(name, leaf);
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name("buffer", name);
  // Refused here rather than by a later state_dict() or to(), whose error would not name the buffer.
  EMBER_CHECK(value.defined(), type_name_, ": buffer '", name, "' is undefined");
  buffers_.emplace_back(name, value);
  return buffers_.back().second;
}

void Module::replace_parameter(const std::string& name, Tensor value) {
  for (auto& [existing, tensor] : parameters_) {
    if (existing != name) continue;
    bool requires_grad = tensor.requires_grad();
    tensor = value.is_leaf() ? value : value.detach();
    if (requires_grad) tensor.set_requires_grad(true);
    return;
  }
  EMBER_FAIL(type_name_, ": replace_parameter: no parameter named '", name, "'");
}

}  // namespace ember::nn
