// The backward engine: runs the graph under `roots` in dependency order.
#pragma once
#include <functional>

#include <ember/core/tensor.h>

namespace ember::autograd {

// Computes gradients of roots w.r.t. every leaf reachable from them and accumulates into .grad.
// grad_roots[i] may be undefined only when roots[i] has one element (then it is 1).
// Without retain_graph the graph's saved tensors are freed: a second backward through it throws.
void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph = false);

// Queues `callback` to run once the backward pass now running has computed every gradient, before
// backward() returns (PyTorch's Variable._execution_engine.queue_callback): DistributedDataParallel
// waits for its reductions there. Callbacks run in queue order on the thread that ran backward; one
// that throws makes backward throw. Call it only from inside a backward pass (a grad hook or a
// node's apply); a backward that throws before its end drops its callbacks.
void queue_callback(std::function<void()> callback);

}  // namespace ember::autograd
