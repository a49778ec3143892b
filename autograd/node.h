// The autograd graph. Each op invocation that involves a tensor requiring grad records one Node;
// its edges point at the nodes that produced its inputs (or at the AccumulateGrad node of a leaf).
// Backward runs Node::apply(grads of outputs) -> grads of inputs, in dependency order (engine.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::autograd {

class Node;

// Where a gradient flows: input slot `input_nr` of `function`.
struct Edge {
  std::shared_ptr<Node> function;
  uint32_t input_nr = 0;
  bool valid() const { return function != nullptr; }
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;

  // grad_outputs[i] is the gradient w.r.t. output i (undefined when no gradient reached it).
  // Returns one gradient per next edge (undefined where the input needs none).
  virtual TensorList apply(TensorList&& grad_outputs) = 0;
  virtual std::string name() const = 0;
  // Drops saved tensors after backward; a later apply() must then fail (see check_not_released).
  virtual void release_saved() {}

  const std::vector<Edge>& next_edges() const { return next_edges_; }
  void set_next_edges(std::vector<Edge> edges) { next_edges_ = std::move(edges); }
  uint32_t num_outputs() const { return num_outputs_; }
  void set_num_outputs(uint32_t n) { num_outputs_ = n; }
  // Whether input i of the forward op needs a gradient.
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }

  void mark_released();
  // Call at the start of apply() in nodes that keep saved tensors.
  void check_not_released() const;
  // Throws when a tensor this node saved was written in place since (the engine calls it before
  // apply(): the backward would otherwise compute with values the forward never saw).
  void check_saved_versions() const;

 protected:
  // Keeps t for backward: returns t detached (a saved output must not own its grad_fn) and notes
  // its storage's version for check_saved_versions. Initialise every saved member with it.
  Tensor save(const Tensor& t);

 private:
  struct SavedVersion {
    std::weak_ptr<TensorImpl> tensor;  // the detached tensor save() returned; the node's member owns it
    uint64_t version;
  };
  std::vector<Edge> next_edges_;
  std::vector<SavedVersion> saved_versions_;
  uint32_t num_outputs_ = 1;
  bool released_ = false;
};

// The Edge a gradient for `t` should flow into: its grad_fn, or the (lazily made) accumulator of a
// leaf that requires grad; an invalid edge otherwise.
Edge gradient_edge(const Tensor& t);

// True when grad mode is on and any input requires grad: the op must record a node.
bool any_requires_grad(const TensorList& inputs);

// Wires `node` into the graph: edges to the inputs, and the outputs' grad_fn/output_nr.
// Returns the outputs (which now require grad) for convenience.
void record(const std::shared_ptr<Node>& node, const TensorList& inputs, TensorList& outputs);
Tensor record(const std::shared_ptr<Node>& node, const TensorList& inputs, Tensor output);

}  // namespace ember::autograd
