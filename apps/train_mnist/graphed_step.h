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

  // step(images, labels) runs one training step on a batch of `batch` images and their labels.
  // use_graph: capture and replay; required: a failed capture is an error instead of a fallback;
  // eager_steps: steps before the capture (kWarmupSteps, more when some are to be profiled);
  // steps_per_replay: training steps captured back to back in one graph (--cuda-graph-steps), so
  // that one launch and one copy of their batches serve that many steps.
  using StepFunction = std::function<void(const ember::Tensor& images, const ember::Tensor& labels)>;
  GraphedStep(StepFunction step, int64_t batch, bool use_graph, bool required, int64_t eager_steps = kWarmupSteps,
              int64_t steps_per_replay = 1);

  // How many steps the next run() takes when `left` steps remain in the epoch: 1 while eager,
  // steps_per_replay when that many remain, else 1 (the epoch's tail replays a one-step graph).
  int64_t next_run_steps(int64_t left) const;
  // Runs next_run_steps() steps on their batches, one after another in `images` and `labels`.
  void run(const ember::Tensor& images, const ember::Tensor& labels);
  // Something the capture baked in changed (the learning rate): capture again at the next run.
  void recapture();
  bool using_graph() const { return use_graph_; }

 private:
  // A captured run of `steps` steps and the fixed-address inputs it reads its batches from.
  struct Replay {
    int64_t steps = 0;
    ember::cuda::Graph graph;
    ember::Tensor images, labels;
  };
  void replay(Replay& r, const ember::Tensor& images, const ember::Tensor& labels);

  StepFunction step_;
  int64_t batch_;
  bool use_graph_, required_;
  int64_t eager_steps_before_capture_;
  int64_t eager_steps_ = 0;
  Replay multi_, single_;  // steps_per_replay steps, and one (multi_ unused when steps_per_replay is 1)
};

}  // namespace train_mnist
