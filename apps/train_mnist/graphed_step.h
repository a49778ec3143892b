// How train_mnist runs its training step: eagerly, or, on a GPU where it is valid, captured once in
// a CUDA graph and replayed (--cuda-graph auto|on|off). The MNIST step is ~30 small kernels, so
// eager execution is bound by launch latency; a replay is one launch.
#pragma once
#include <ember/core/cuda_graph.h>
#include <ember/core/tensor.h>

#include <functional>
#include <string>

#include "options.h"

namespace train_mnist {

// Why the step cannot be captured with these settings ("" when it can). A replay repeats exactly
// the captured kernels with their captured arguments, so every host-side value the step computes
// must be the same at every step (Adam's step count t is therefore kept on the device: the
// optimizer is made with AdamOptions::capturable when the step is captured).
std::string graph_capture_blocker(const Options& options, ember::Device device, bool distributed, bool data_parallel);

class GraphedStep {
 public:
  // Steps run eagerly before the capture: cuDNN picks its algorithms, the optimizer makes its state,
  // the allocator warms up.
  static constexpr int64_t kWarmupSteps = 3;

  // step(index) runs one training step on the batch that `index` (int64, on the device) picks.
  // use_graph: capture and replay; required: a failed capture is an error instead of a fallback;
  // eager_steps: steps before the capture (kWarmupSteps, more when some are to be profiled).
  GraphedStep(std::function<void(const ember::Tensor&)> step, ember::Device device, int64_t batch, bool use_graph,
              bool required, int64_t eager_steps = kWarmupSteps);

  // Eager for the first eager_steps steps, then the step is captured once and every later call is a
  // replay.
  void run(const ember::Tensor& index);
  // Something the capture baked in changed (the learning rate): capture again at the next step.
  void recapture() { graph_.reset(); }
  bool using_graph() const { return use_graph_; }

 private:
  std::function<void(const ember::Tensor&)> step_;
  bool use_graph_, required_;
  int64_t eager_steps_before_capture_;
  int64_t eager_steps_ = 0;
  ember::cuda::Graph graph_;
  ember::Tensor graph_index_;  // the fixed-address input the graph reads its batch's indices from
};

}  // namespace train_mnist
