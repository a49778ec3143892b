#include "graphed_step.h"

#include <ember/ember.h>

#include <cstdio>

namespace train_mnist {

using namespace ember;

std::string graph_capture_blocker(const Options&, Device device, bool distributed, bool data_parallel) {
  if (!device.is_cuda()) return "it needs a CUDA device (training runs on " + device.str() + ")";
  if (distributed) return "the gradient all-reduce of a distributed run is not captured";
  if (data_parallel) return "--data-parallel drives several devices from the host at every step";
  // Adam and AdamW are made capturable when the step is captured (trainer.cpp make_optimizer): their
  // step counts, and the bias corrections 1 - beta^t, live on the device.
  return "";
}

GraphedStep::GraphedStep(std::function<void(const Tensor&)> step, Device device, int64_t batch, bool use_graph,
                         bool required, int64_t eager_steps, int64_t steps_per_replay)
    : step_(std::move(step)), batch_(batch), use_graph_(use_graph), required_(required),
      eager_steps_before_capture_(eager_steps) {
  EMBER_CHECK(steps_per_replay >= 1, "GraphedStep: steps_per_replay must be >= 1, got ", steps_per_replay);
  if (!use_graph_) return;
  TensorOptions index_options = TensorOptions(kInt64).with_device(device);
  single_.steps = 1;
  single_.index = empty({batch}, index_options);
  if (steps_per_replay > 1) {
    multi_.steps = steps_per_replay;
    multi_.index = empty({steps_per_replay * batch}, index_options);
  }
}

int64_t GraphedStep::next_run_steps(int64_t left) const {
  if (!use_graph_ || eager_steps_ < eager_steps_before_capture_) return 1;
  return multi_.steps > 1 && left >= multi_.steps ? multi_.steps : 1;
}

void GraphedStep::run(const Tensor& indices) {
  const int64_t steps = indices.numel() / batch_;
  EMBER_CHECK(steps == next_run_steps(steps) && indices.numel() == steps * batch_, "GraphedStep: run() got ",
              indices.numel(), " indices, expected ", next_run_steps(steps), " batches of ", batch_);
  if (!use_graph_ || eager_steps_ < eager_steps_before_capture_) {
    step_(indices);
    ++eager_steps_;
    return;
  }
  replay(steps == 1 ? single_ : multi_, indices);
}

void GraphedStep::replay(Replay& r, const Tensor& indices) {
  // The batches' indices go where the graph reads them; then one launch runs r.steps steps.
  r.index.copy_(indices);
  if (!r.graph.captured()) {
    try {
      r.graph.capture([&] {
        for (int64_t i = 0; i < r.steps; ++i) step_(r.index.narrow(0, i * batch_, batch_));
      });
    } catch (const Error& e) {
      if (required_) throw;
      // Nothing captured has run: train these batches, and the rest, eagerly.
      std::fprintf(stderr, "train_mnist: CUDA graph capture failed, training without it: %s\n", e.what());
      use_graph_ = false;
      for (int64_t i = 0; i < r.steps; ++i) step_(indices.narrow(0, i * batch_, batch_));
      return;
    }
  }
  r.graph.replay();
}

void GraphedStep::recapture() {
  multi_.graph.reset();
  single_.graph.reset();
}

}  // namespace train_mnist
