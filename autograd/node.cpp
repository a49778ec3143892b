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
