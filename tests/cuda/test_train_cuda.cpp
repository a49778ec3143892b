// The whole training loop on the GPU: the Net on the bundled MNIST, 30 SGD steps on CUDA and on
// the CPU from the same initial weights and batches. The loss trajectories must agree (float32,
// cuDNN vs im2col summation order: relative 2e-3 per step), the final weights too, and the
// caching allocator must serve the steady state without a single new cudaMalloc.
#include <catch2/catch.hpp>

#include <ember/ember.h>

#include "../support/test_support.h"

using namespace ember;

namespace {

struct Run {
  std::vector<double> losses;
  std::map<std::string, Tensor> weights;
};

Run train(Device device, const Tensor& images, const Tensor& labels, int steps, int64_t* new_device_allocs) {
  Generator init(5);
  auto model = std::make_shared<nn::MnistNet>(&init);
  model->to(device);
  optim::SGD sgd(model->parameters(), optim::SGDOptions(0.05).momentum(0.9));
  Tensor x = images.to(device), y = labels.to(device);
  Run run;
  for (int step = 0; step < steps; ++step) {
    if (device.is_cuda() && step == 5) cuda::reset_allocator_stats(device.index);
    Tensor index = arange(step * 100, step * 100 + 100, 1, TensorOptions(kInt64).with_device(device));
    sgd.zero_grad();
    Tensor loss = cross_entropy(model->forward_logits(index_select(x, 0, index)), index_select(y, 0, index));
    loss.backward();
    sgd.step();
    run.losses.push_back(loss.item());
  }
  if (device.is_cuda()) *new_device_allocs = cuda::allocator_stats(device.index).num_device_allocs;
  for (auto& [name, t] : model->state_dict()) run.weights[name] = t.to(kCPU);
  return run;
}

}  // namespace

TEST_CASE("train: the Net trains on CUDA as on the CPU", "[cuda][train]") {
  data::MNIST mnist(data::MNIST::default_root(), true);
  const int steps = 30;
  Tensor images = mnist.images().narrow(0, 0, steps * 100).contiguous();
  Tensor labels = mnist.labels().narrow(0, 0, steps * 100).contiguous();
  int64_t new_allocs = -1;
  Run cpu = train(kCPU, images, labels, steps, nullptr);
  Run gpu = train(cuda_device(0), images, labels, steps, &new_allocs);
  for (int i = 0; i < steps; ++i) {
    INFO("step " << i << ": cpu " << cpu.losses[i] << " cuda " << gpu.losses[i]);
    CHECK(gpu.losses[i] == Approx(cpu.losses[i]).epsilon(2e-3));
  }
  CHECK(gpu.losses.back() < gpu.losses.front() * 0.7);  // it learns
  for (auto& [name, w] : cpu.weights) {
    std::string why;
    const bool close = testing::all_close(gpu.weights[name], w, 1e-2, 1e-3, &why);
    INFO(name << ": " << why);
    CHECK(close);
  }
  CHECK(new_allocs == 0);  // steps 5..29: every allocation a cache hit
}
