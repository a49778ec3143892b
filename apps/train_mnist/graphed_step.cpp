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

GraphedStep::GraphedStep(StepFunction step, int64_t batch, bool use_graph, bool required, int64_t eager_steps,
                         int64_t steps_per_replay)
    : step_(std::move(step)), batch_(batch), use_graph_(use_graph), required_(required),
      eager_steps_before_capture_(eager_steps) {
  EMBER_CHECK(steps_per_replay >= 1, "GraphedStep: steps_per_replay must be >= 1, got ", steps_per_replay);
  single_.steps = 1;
  if (steps_per_replay > 1) multi_.steps = steps_per_replay;
}

int64_t GraphedStep::next_run_steps(int64_t left) const {
  if (!use_graph_ || eager_steps_ < eager_steps_before_capture_) return 1;
  return multi_.steps > 1 && left >= multi_.steps ? multi_.steps : 1;
}

void GraphedStep::run(const Tensor& images, const Tensor& labels) {
  const int64_t steps = images.size(0) / batch_;
  EMBER_CHECK(steps == next_run_steps(steps) && images.size(0) == steps * batch_ && labels.size(0) == images.size(0),
              "GraphedStep: run() got ", images.size(0), " images and ", labels.size(0), " labels, expected ",
              next_run_steps(steps), " batches of ", batch_);
  if (!use_graph_ || eager_steps_ < eager_steps_before_capture_) {
    step_(images, labels);
    ++eager_steps_;
    return;
  }
  replay(steps == 1 ? single_ : multi_, images, labels);
}

void GraphedStep::replay(Replay& r, const Tensor& images, const Tensor& labels) {
  // The batches go where the graph reads them (two device-to-device copies); then one launch runs
  // r.steps steps.
  if (!r.images.defined()) {
    r.images = empty_like(images);
    r.labels = empty_like(labels);
  }
  r.images.copy_(images);
  r.labels.copy_(labels);
  if (!r.graph.captured()) {
    auto batch_of = [&](const Tensor& t, int64_t i) { return t.narrow(0, i * batch_, batch_); };
    try {
      r.graph.capture([&] {
        for (int64_t i = 0; i < r.steps; ++i) step_(batch_of(r.images, i), batch_of(r.labels, i));
      });
    } catch (const Error& e) {
      if (required_) throw;
      // Nothing captured has run: train these batches, and the rest, eagerly.
      std::fprintf(stderr, "train_mnist: CUDA graph capture failed, training without it: %s\n", e.what());
      use_graph_ = false;
      for (int64_t i = 0; i < r.steps; ++i) step_(batch_of(images, i), batch_of(labels, i));
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
