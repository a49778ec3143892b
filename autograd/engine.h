// The backward engine: runs the graph under `roots` in dependency order.
#pragma once
#include <ember/core/tensor.h>

namespace ember::autograd {

// Computes gradients of roots w.r.t. every leaf reachable from them and accumulates into .grad.
// grad_roots[i] may be undefined only when roots[i] has one element (then it is 1).
// Without retain_graph the graph's saved tensors are freed: a second backward through it throws.
void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph = false);

}  // namespace ember::autograd
