#include <ember/autograd/accumulate_grad.h>
#include <ember/autograd/grad_mode.h>
#include <ember/autograd/node.h>
#include <ember/core/error.h>

namespace ember::autograd {

void Node::check_not_released() const {
  EMBER_CHECK(!released_, name(),
              ": trying to backward through the graph a second time; its saved tensors were freed "
              "by the first backward. Pass retain_graph=true to the first backward if you need this.");
}

void Node::mark_released() {
  released_ = true;
  saved_versions_.clear();
}

Tensor Node::save(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor saved = t.detach();
  saved_versions_.push_back({saved.impl_ptr(), saved.version()});
  return saved;
}

void Node::check_saved_versions() const {
  for (size_t i = 0; i < saved_versions_.size(); ++i) {
    const SavedVersion& saved = saved_versions_[i];
    std::shared_ptr<TensorImpl> impl = saved.tensor.lock();
    if (!impl) continue;  // released by the node itself
    const Tensor tensor(impl);
    EMBER_CHECK(tensor.version() == saved.version, name(), ": one of the tensors saved for backward (", tensor.str(),
                ", saved tensor ", i, ") was modified by an in-place operation: its storage is at version ",
                tensor.version(), ", it was saved at version ", saved.version,
                ". Clone it before the in-place write, or make the write after backward.");
  }
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  TensorImpl& impl = t.impl();
  if (impl.grad_fn) return {impl.grad_fn, impl.output_nr};
  std::shared_ptr<Node> accumulator = impl.grad_accumulator.lock();
  if (!accumulator) {
    accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl.grad_accumulator = accumulator;
  }
  return {accumulator, 0};
}

bool any_requires_grad(const TensorList& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const std::shared_ptr<Node>& node, const TensorList& inputs, TensorList& outputs) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) edges.push_back(gradient_edge(t));
  node->set_next_edges(std::move(edges));
  node->set_num_outputs(static_cast<uint32_t>(outputs.size()));
  for (size_t i = 0; i < outputs.size(); ++i) {
    TensorImpl& impl = outputs[i].impl();
    impl.requires_grad = true;
    impl.grad_fn = node;
    impl.output_nr = static_cast<uint32_t>(i);
  }
}

Tensor record(const std::shared_ptr<Node>& node, const TensorList& inputs, Tensor output) {
  TensorList outputs{std::move(output)};
  record(node, inputs, outputs);
  return outputs[0];
}

}  // namespace ember::autograd
