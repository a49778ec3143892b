// cuda::Graph: a captured computation replays with new inputs copied into the same tensors, its
// private memory is not handed to allocations made outside it, and a captured training step
// (forward, backward, SGD) gives the same losses as running the steps eagerly.
#include <catch2/catch.hpp>

#include <ember/core/cuda_graph.h>
#include <ember/ember.h>

#include "../support/test_support.h"

using namespace ember;

TEST_CASE("graph: replay recomputes from the captured inputs", "[cuda][graph]") {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Tensor x = testing::random_tensor({1000}, 1, -1, 1, kFloat32).to(dev);
  Tensor y = empty({1000}, TensorOptions(kFloat32).with_device(dev));
  relu(x * 2.0 + 1.0);  // warm-up outside the capture
  cuda::Graph graph;
  graph.capture_begin();
  {
    NoGradGuard no_grad;
    y.copy_(relu(x * 2.0 + 1.0));  // temporaries come from the graph's private pool
  }
  graph.capture_end();
  for (uint64_t seed = 2; seed < 5; ++seed) {
    Tensor fresh = testing::random_tensor({1000}, seed, -1, 1, kFloat32);
    x.copy_(fresh);
    // Same-sized allocations outside the graph, filled with garbage, must not alias its memory.
    Tensor outside = full({1000}, 1e9, TensorOptions(kFloat32).with_device(dev));
    graph.replay();
    std::string why;
    const bool close = testing::all_close(y.to(kCPU), relu(fresh * 2.0 + 1.0), 1e-6, 1e-6, &why);
    INFO(why);
    CHECK(close);
  }
}

TEST_CASE("graph: a captured training step matches eager steps", "[cuda][graph][train]") {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Tensor images = rand({400, 1, 28, 28}).to(dev);
  Tensor labels = randint(0, 10, {400}).to(dev);
  auto run = [&](bool use_graph) {
    Generator init(3);
    nn::MnistNet model(&init);
    model.to(dev);
    optim::SGD sgd(model.parameters(), optim::SGDOptions(0.05).momentum(0.9));
    Tensor index = empty({100}, TensorOptions(kInt64).with_device(dev));
    Tensor last_loss = zeros({}, TensorOptions(kFloat32).with_device(dev));
    auto step = [&] {
      sgd.zero_grad();
      Tensor loss = cross_entropy(model.forward_logits(index_select(images, 0, index)), index_select(labels, 0, index));
      loss.backward();
      sgd.step();
      NoGradGuard no_grad;
      last_loss.copy_(loss);
    };
    cuda::Graph graph;
    std::vector<double> losses;
    for (int s = 0; s < 4; ++s) {
      index.copy_(arange(s * 100, s * 100 + 100, 1, TensorOptions(kInt64).with_device(dev)));
      if (!use_graph || s < 2) {
        step();
      } else {
        if (!graph.captured()) {
          graph.capture_begin();
          step();
          graph.capture_end();
        }
        graph.replay();
      }
      losses.push_back(last_loss.item());
    }
    return losses;
  };
  std::vector<double> eager = run(false), captured = run(true);
  for (size_t i = 0; i < eager.size(); ++i) CHECK(captured[i] == Approx(eager[i]).epsilon(1e-5));
}

TEST_CASE("graph: a capture interrupted by an exception leaves the stream usable", "[cuda][graph]") {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Tensor x = testing::random_tensor({256}, 5, -1, 1, kFloat32).to(dev);
  Tensor y = empty({256}, TensorOptions(kFloat32).with_device(dev));
  cuda::Graph graph;
  // A host read inside the capture is what usually breaks one: item() synchronises the stream.
  CHECK_THROWS_AS(graph.capture([&] {
    NoGradGuard no_grad;
    y.copy_(x * 3.0);
    (void)sum(y).item();
  }),
                  Error);
  CHECK_FALSE(graph.captured());
  // The stream still runs eager work, and a later capture of the same work succeeds.
  NoGradGuard no_grad;
  CHECK(testing::all_close(relu(x).to(kCPU), relu(x.to(kCPU)), 0, 0));
  graph.capture([&] { y.copy_(x * 3.0); });
  REQUIRE(graph.captured());
  graph.replay();
  CHECK(testing::all_close(y.to(kCPU), x.to(kCPU) * 3.0, 1e-6, 1e-6));
}

TEST_CASE("graph: recapturing reuses the memory a dropped graph gave back", "[cuda][graph]") {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Tensor x = testing::random_tensor({4096}, 7, -1, 1, kFloat32).to(dev);
  Tensor y = empty({4096}, TensorOptions(kFloat32).with_device(dev));
  auto work = [&] {
    NoGradGuard no_grad;
    y.copy_(relu(x * 2.0 + 1.0) * 3.0);  // two temporaries per run
  };
  work();
  cuda::Graph graph;
  graph.capture(work);
  graph.replay();
  graph.reset();  // its blocks join the general cache
  const int64_t device_allocs = cuda::allocator_stats().num_device_allocs;
  for (int i = 0; i < 3; ++i) {  // as train_mnist does after each learning-rate change
    graph.capture(work);
    graph.replay();
    graph.reset();
  }
  CHECK(cuda::allocator_stats().num_device_allocs == device_allocs);
  NoGradGuard no_grad;
  CHECK(testing::all_close(y.to(kCPU), relu(x.to(kCPU) * 2.0 + 1.0) * 3.0, 1e-6, 1e-6));
}
