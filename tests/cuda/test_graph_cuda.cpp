// cuda::Graph: a captured computation replays with new inputs copied into the same tensors, its
// private memory is not handed to allocations made outside it, and a captured training step
// (forward, backward, SGD or capturable Adam) gives the same losses as running the steps eagerly.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>

#include <ember/core/cuda_graph.h>
#include <ember/ember.h>
#include <ember/optim/optim.h>

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

TEST_CASE("graph: a backward captured first makes its root gradient inside the graph", "[cuda][graph]") {
  // The engine reuses one constant 1 per (device, dtype, shape) as the implicit root gradient,
  // but not one made during a capture (it would hold 1 only after a replay): a shape whose first
  // backward is captured must still give the right gradients, replayed and eagerly afterwards.
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Tensor w = testing::random_tensor({7}, 5, 0.5, 2, kFloat64).to(dev).set_requires_grad(true);
  Tensor scale = full({1, 1, 1}, 3.0, TensorOptions(kFloat64).with_device(dev));  // a root shape no other test uses
  cuda::Graph graph;
  graph.capture([&] {
    w.set_grad(Tensor());
    (sum(w * w).reshape({1, 1, 1}) * scale).backward();
  });
  Tensor expected = (w.detach() * 6.0).to(kCPU);
  for (int replay = 0; replay < 2; ++replay) {
    graph.replay();
    CHECK(testing::all_close(w.grad().to(kCPU), expected, 1e-12, 1e-12));
  }
  w.set_grad(Tensor());
  (sum(w * w).reshape({1, 1, 1}) * scale).backward();  // eager: the constant made now, outside the capture
  CHECK(testing::all_close(w.grad().to(kCPU), expected, 1e-12, 1e-12));
  (sum(w * w).reshape({1, 1, 1}) * scale).backward();
  CHECK(testing::all_close(w.grad().to(kCPU), expected * 2.0, 1e-12, 1e-12));
}

namespace {

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(const TensorList&)>;

// The losses of `steps` MNIST training steps cycling over four fixed batches of 100. With
// use_graph, steps 0 and 1 run eagerly (the optimizer makes its state), step 2 is captured and
// every later step replays it. Returns the losses and the optimizer's final state dict.
std::pair<std::vector<double>, optim::OptimizerState> training_losses(const MakeOptimizer& make_optimizer,
                                                                      bool use_graph, int steps) {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Generator data(11);
  Tensor images = rand({400, 1, 28, 28}, {}, &data).to(dev);
  Tensor labels = randint(0, 10, {400}, TensorOptions(kInt64), &data).to(dev);
  Generator init(3);
  nn::MnistNet model(&init);
  model.to(dev);
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(model.parameters());
  Tensor index = empty({100}, TensorOptions(kInt64).with_device(dev));
  Tensor last_loss = zeros({}, TensorOptions(kFloat32).with_device(dev));
  auto step = [&] {
    optimizer->zero_grad();
    Tensor loss = cross_entropy(model.forward_logits(index_select(images, 0, index)), index_select(labels, 0, index));
    loss.backward();
    optimizer->step();
    NoGradGuard no_grad;
    last_loss.copy_(loss);
  };
  cuda::Graph graph;
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    int64_t first = (s % 4) * 100;
    index.copy_(arange(first, first + 100, 1, TensorOptions(kInt64).with_device(dev)));
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
  return {losses, optimizer->state_dict()};
}

// device_steps: the optimizer keeps its step counts on the device, so they advance in the replays
// too and the state dicts' "<i>.step" agree (SGD keeps no step count).
void check_graph_matches_eager(const MakeOptimizer& make_optimizer, int steps, bool device_steps) {
  auto [eager, eager_state] = training_losses(make_optimizer, false, steps);
  auto [captured, captured_state] = training_losses(make_optimizer, true, steps);
  for (size_t i = 0; i < eager.size(); ++i) {
    INFO("step " << i);
    CHECK(captured[i] == Approx(eager[i]).epsilon(1e-5));
  }
  // Host-side scalars a replay cannot advance would differ here; none are left.
  CHECK(captured_state.scalars == eager_state.scalars);
  if (device_steps) {
    CHECK(captured_state.scalars.at("0.step") == steps);
  } else {
    CHECK(captured_state.scalars.count("0.step") == 0);
  }
}

}  // namespace

TEST_CASE("graph: a captured training step matches eager steps", "[cuda][graph][train]") {
  check_graph_matches_eager(
      [](const TensorList& p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05).momentum(0.9)); }, 4,
      false);
}

TEST_CASE("graph: a captured capturable-Adam step matches eager steps", "[cuda][graph][train]") {
  // 6 replays: the bias corrections 1 - beta^t must advance with every replay (a frozen t would
  // change the update by up to 2x), and the device step counts end at 8.
  for (bool decoupled : {false, true}) {
    INFO((decoupled ? "AdamW" : "Adam"));
    check_graph_matches_eager(
        [decoupled](const TensorList& p) -> std::unique_ptr<optim::Optimizer> {
          optim::AdamOptions options = optim::AdamOptions(2e-3).capturable(true);
          if (decoupled) return std::make_unique<optim::AdamW>(p, options.weight_decay(0.01));
          return std::make_unique<optim::Adam>(p, options);
        },
        8, true);
  }
}

TEST_CASE("graph: a captured capturable-Adadelta step matches eager steps and counts its steps", "[cuda][graph][train]") {
  check_graph_matches_eager(
      [](const TensorList& p) {
        return std::make_unique<optim::Adadelta>(p, optim::AdadeltaOptions(0.5).capturable(true));
      },
      8, true);
}

TEST_CASE("graph: weight gradients on a second stream, eager and captured, match the plain steps",
          "[cuda][graph][train]") {
  // Each linear/conv backward forks its weight gradient onto a side stream and joins it before
  // returning (ops/weight_grad_branch.h): eagerly the two streams really run at once; in the capture
  // the fork and join become graph edges (a join missing would fail the capture as unjoined).
  auto sgd = [](const TensorList& p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05).momentum(0.9)); };
  auto [plain, plain_state] = training_losses(sgd, false, 4);
  struct Concurrent {
    Concurrent() { cuda::set_concurrent_weight_grads(true); }
    ~Concurrent() { cuda::set_concurrent_weight_grads(false); }
  } concurrent;
  for (bool use_graph : {false, true}) {
    INFO((use_graph ? "captured" : "eager") << " with concurrent weight gradients");
    auto [losses, state] = training_losses(sgd, use_graph, 4);
    for (size_t i = 0; i < plain.size(); ++i) {
      INFO("step " << i);
      CHECK(losses[i] == Approx(plain[i]).epsilon(1e-5));
    }
    CHECK(state.scalars == plain_state.scalars);
  }
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
