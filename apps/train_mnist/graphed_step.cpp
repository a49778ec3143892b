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
                         bool required, int64_t eager_steps)
    : step_(std::move(step)), use_graph_(use_graph), required_(required), eager_steps_before_capture_(eager_steps) {
  if (use_graph_) graph_index_ = empty({batch}, TensorOptions(kInt64).with_device(device));
}

void GraphedStep::run(const Tensor& index) {
  if (!use_graph_ || eager_steps_ < eager_steps_before_capture_) {
    step_(index);
    ++eager_steps_;
    return;
  }
  // The batch's indices go where the graph reads them; then one launch runs the whole step.
  graph_index_.copy_(index);
  if (!graph_.captured()) {
    try {
      graph_.capture([&] { step_(graph_index_); });
    } catch (const Error& e) {
      if (required_) throw;
      // Nothing captured has run: train this batch, and the rest, eagerly.
      std::fprintf(stderr, "train_mnist: CUDA graph capture failed, training without it: %s\n", e.what());
      use_graph_ = false;
      step_(index);
      return;
    }
  }
  graph_.replay();
}

}  // namespace train_mnist
