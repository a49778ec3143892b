#include <ember/autograd/engine.h>
#include <ember/autograd/grad_mode.h>
#include <ember/autograd/node.h>
#include <ember/core/error.h>
#include <ember/ops/ops.h>

#include <ember/core/cuda.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace ember::autograd {

namespace {

// Gradients arriving at one node, one slot per output of its forward op, summed as they come.
using InputBuffer = TensorList;

void accumulate(InputBuffer& buffer, uint32_t slot, Tensor grad) {
  if (!grad.defined()) return;
  if (buffer.size() <= slot) buffer.resize(slot + 1);
  Tensor& held = buffer[slot];
  held = held.defined() ? add(held, grad) : std::move(grad);
}

// Number of edges that point at each node reachable from the roots (iterative DFS).
std::unordered_map<Node*, int> count_dependencies(const std::vector<Edge>& root_edges) {
  std::unordered_map<Node*, int> dependencies;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (const Edge& e : root_edges) {
    if (seen.insert(e.function.get()).second) stack.push_back(e.function.get());
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& next : node->next_edges()) {
      if (!next.valid()) continue;
      ++dependencies[next.function.get()];
      if (seen.insert(next.function.get()).second) stack.push_back(next.function.get());
    }
  }
  return dependencies;
}

// The implicit gradient of a one-element root, 1, as one constant per (device, dtype, shape), made
// once: a training step's backward then launches no fill for its seed (on a GPU, one launch fewer in
// a step of ~20). Shared: Ember's backward functions never write into the gradients they are
// given, and AccumulateGrad copies a gradient whose storage it does not own alone. A custom node
// that writes its incoming gradient in place (mul_, add_...) advances the constant's version; the
// constant is then replaced, so the write cannot leak into a later backward. A capture reads a
// constant made before it; one it would make is made fresh instead (it would hold 1 only once the
// graph had replayed).
Tensor implicit_root_grad(const Tensor& root) {
  const Device device = root.device();
  using Key = std::tuple<std::string, int, Shape>;
  static std::mutex mutex;
  static auto* constants = new std::map<Key, Tensor>();  // never destroyed: no device frees at exit
  std::lock_guard<std::mutex> lock(mutex);
  const Key key{device.str(), static_cast<int>(root.dtype()), root.sizes()};
  auto it = constants->find(key);
  if (it != constants->end() && it->second.version() != 0) {  // written in place since it was made
    constants->erase(it);
    it = constants->end();
  }
  if (it == constants->end()) {
    if (device.is_cuda() && cuda::current_stream(device.index).is_capturing()) return ones_like(root);
    Tensor one = ones_like(root);
    // Other streams read it from now on: the fill must be done before any of them does.
    if (device.is_cuda()) cuda::current_stream(device.index).synchronize();
    it = constants->emplace(key, std::move(one)).first;
  }
  return it->second;
}

// The callbacks queued during the backward pass running on this thread (null outside one). A
// backward started inside another (from a hook) has its own list.
thread_local std::vector<std::function<void()>>* queued_callbacks = nullptr;

// Installs a fresh callback list for one backward pass and restores the outer one on exit.
class CallbackScope {
 public:
  CallbackScope() : outer_(queued_callbacks) { queued_callbacks = &callbacks_; }
  ~CallbackScope() { queued_callbacks = outer_; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

  // Runs the callbacks in queue order, those they queue included.
  void run() {
    for (size_t i = 0; i < callbacks_.size(); ++i) {
      std::function<void()> callback = std::move(callbacks_[i]);
      callback();
    }
    callbacks_.clear();
  }

 private:
  std::vector<std::function<void()>> callbacks_;
  std::vector<std::function<void()>>* outer_;
};

}  // namespace

void queue_callback(std::function<void()> callback) {
  EMBER_CHECK(queued_callbacks != nullptr,
              "queue_callback: called outside a backward pass (only a grad hook or a node's apply can queue one)");
  queued_callbacks->push_back(std::move(callback));
}

void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph) {
  EMBER_CHECK(roots.size() == grad_roots.size(), "backward: ", roots.size(), " roots but ", grad_roots.size(),
              " gradients");
  NoGradGuard no_grad;  // backward computations are never themselves recorded
  CallbackScope callbacks;

  std::vector<Edge> root_edges;
  std::unordered_map<Node*, InputBuffer> buffers;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    EMBER_CHECK(root.requires_grad(), "backward: tensor ", i, " (", root.str(),
                ") does not require grad and has no grad_fn");
    Tensor grad = grad_roots[i];
    if (!grad.defined()) {
      EMBER_CHECK(root.numel() == 1, "backward: grad can be implicitly created only for a tensor with one element; ",
                  root.str(), " needs an explicit gradient");
      grad = implicit_root_grad(root);
    }
    EMBER_CHECK(grad.sizes() == root.sizes(), "backward: gradient ", grad.str(), " does not match root ", root.str());
    EMBER_CHECK(grad.device() == root.device(), "backward: gradient ", grad.str(), " is not on the device of root ",
                root.str());
    // Like PyTorch, a gradient of another dtype is converted to the root's (a float32 leaf keeps a
    // float32 .grad however the caller spelled the seed).
    if (grad.dtype() != root.dtype()) grad = grad.to(root.dtype());
    Edge edge = gradient_edge(root);
    accumulate(buffers[edge.function.get()], edge.input_nr, grad);
    root_edges.push_back(edge);
  }

  std::unordered_map<Node*, int> dependencies = count_dependencies(root_edges);
  std::deque<std::shared_ptr<Node>> ready;
  std::unordered_set<Node*> queued;
  for (const Edge& e : root_edges) {
    if (dependencies[e.function.get()] == 0 && queued.insert(e.function.get()).second) ready.push_back(e.function);
  }

  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.front());
    ready.pop_front();
    InputBuffer grads = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    grads.resize(node->num_outputs());

    bool any_grad = false;
    for (const Tensor& g : grads) any_grad = any_grad || g.defined();
    TensorList input_grads;
    if (any_grad) {
      node->check_saved_versions();
      input_grads = node->apply(std::move(grads));
    }
    if (!retain_graph) {
      node->release_saved();
      node->mark_released();
    }

    const std::vector<Edge>& edges = node->next_edges();
    EMBER_CHECK(!any_grad || input_grads.size() == edges.size() || edges.empty(), node->name(), " returned ",
                input_grads.size(), " gradients for ", edges.size(), " inputs");
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& next = edges[i];
      if (!next.valid()) continue;
      if (any_grad) accumulate(buffers[next.function.get()], next.input_nr, std::move(input_grads[i]));
      if (--dependencies[next.function.get()] == 0) ready.push_back(next.function);
    }
  }
  callbacks.run();
}

}  // namespace ember::autograd
