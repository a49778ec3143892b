// Fused optimizer kernels on CUDA against the CPU reference: the same parameters and gradients,
// several steps, compared elementwise. Shapes span several chunks of the multi-tensor launch and
// more parameters than one launch carries (so the packing into several launches is exercised).
#include <catch2/catch.hpp>

#include <functional>
#include <memory>

#include <ember/ember.h>
#include <ember/optim/optim.h>

#include "../support/test_support.h"

using namespace ember;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(TensorList)>;

std::vector<Shape> test_shapes() {
  std::vector<Shape> shapes{{10, 1, 5, 5}, {10}, {20, 10, 5, 5}, {20}, {50, 320}, {50}, {10, 50}, {10}, {70001}, {3}};
  for (int i = 0; i < 20; ++i) shapes.push_back({i + 1, 7});  // 30 tensors: two launches
  return shapes;
}

Tensor leaf(const Tensor& t) {
  Tensor out = t.detach();
  out.set_requires_grad(true);
  return out;
}

// make_cpu: the CPU optimizer when it differs from the CUDA one (default: the same).
void compare(const MakeOptimizer& make, DType dtype, double rtol, double atol, int steps = 4,
             const MakeOptimizer& make_cpu = nullptr) {
  std::vector<Shape> shapes = test_shapes();
  TensorList cpu_params, cuda_params;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor p = testing::random_tensor(shapes[i], 100 + i, 0.1, 1.0, dtype);
    cpu_params.push_back(leaf(p.clone()));
    cuda_params.push_back(leaf(p.to(cuda_device(0))));
  }
  auto cpu_opt = make_cpu ? make_cpu(cpu_params) : make(cpu_params);
  auto cuda_opt = make(cuda_params);
  for (int s = 0; s < steps; ++s) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      // Never-zero gradients of both signs: magnitude in [0.1, 1), sign from the step and index.
      Tensor g = testing::random_tensor(shapes[i], 1000 * s + i, 0.1, 1.0, dtype);
      if ((s + i) % 2) g = g * -1.0;
      cpu_params[i].set_grad(g);
      cuda_params[i].set_grad(g.to(cuda_device(0)));
    }
    cpu_opt->step();
    cuda_opt->step();
  }
  cuda::synchronize();
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::string why;
    INFO("parameter " << i << " " << shape_str(shapes[i]));
    bool ok = testing::all_close(cuda_params[i].to(kCPU), cpu_params[i], rtol, atol, &why);
    INFO(why);
    CHECK(ok);
  }
}

}  // namespace

TEST_CASE("fused SGD on CUDA matches the CPU", "[optim][cuda]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
    compare([](TensorList p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.1)); }, dtype, tol, tol);
    compare([](TensorList p) {
      return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-2));
    }, dtype, tol, tol);
    compare([](TensorList p) {
      return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05).momentum(0.9).nesterov(true));
    }, dtype, tol, tol);
    compare([](TensorList p) {
      return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05).momentum(0.5).dampening(0.25));
    }, dtype, tol, tol);
  }
}

TEST_CASE("fused Adam and AdamW on CUDA match the CPU", "[optim][cuda]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
    compare([](TensorList p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions(1e-2)); }, dtype, tol, tol);
    compare([](TensorList p) {
      return std::make_unique<optim::Adam>(p, optim::AdamOptions(1e-2).weight_decay(0.1).betas(0.8, 0.99));
    }, dtype, tol, tol);
    compare([](TensorList p) {
      return std::make_unique<optim::AdamW>(p, optim::AdamOptions(1e-2).weight_decay(1e-2));
    }, dtype, tol, tol);
  }
}

TEST_CASE("capturable Adam and AdamW on CUDA match the CPU", "[optim][cuda]") {
  // The step counts and bias corrections live on the GPU: compared over 6 steps against the CPU's
  // capturable path and its default (host step count) path.
  for (DType dtype : {kFloat32, kFloat64}) {
    double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
    for (bool cpu_capturable : {true, false}) {
      INFO(dtype_name(dtype) << (cpu_capturable ? ", CPU capturable" : ", CPU default"));
      const optim::AdamOptions adam = optim::AdamOptions(1e-2).weight_decay(0.1).betas(0.8, 0.99);
      const optim::AdamOptions adamw = optim::AdamOptions(1e-2).weight_decay(1e-2);
      compare([&](TensorList p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions(adam).capturable(true)); },
              dtype, tol, tol, 6,
              [&](TensorList p) {
                return std::make_unique<optim::Adam>(p, optim::AdamOptions(adam).capturable(cpu_capturable));
              });
      compare([&](TensorList p) { return std::make_unique<optim::AdamW>(p, optim::AdamOptions(adamw).capturable(true)); },
              dtype, tol, tol, 6,
              [&](TensorList p) {
                return std::make_unique<optim::AdamW>(p, optim::AdamOptions(adamw).capturable(cpu_capturable));
              });
    }
  }
}

TEST_CASE("capturable Adam on CUDA: the step count is on the device and in the state dict", "[optim][cuda]") {
  Tensor p = leaf(testing::random_tensor({70001}, 7, 0.1, 1.0, kFloat32).to(cuda_device(0)));
  optim::Adam opt({p}, optim::AdamOptions(1e-2).capturable(true));
  for (int s = 0; s < 3; ++s) {
    p.set_grad(testing::random_tensor({70001}, 70 + s, 0.1, 1.0, kFloat32).to(cuda_device(0)));
    opt.step();
  }
  optim::OptimizerState state = opt.state_dict();
  CHECK(state.scalars.at("0.step") == 3.0);
  CHECK(state.tensors.at("0.exp_avg").device().is_cuda());
  // A checkpoint loads into a default Adam on the CPU and back.
  Tensor q = leaf(p.detach().to(kCPU));
  optim::Adam host({q}, optim::AdamOptions(1e-2));
  host.load_state_dict(state);
  CHECK(host.state_dict().scalars.at("0.step") == 3.0);
  opt.load_state_dict(host.state_dict());
  CHECK(opt.state_dict().scalars.at("0.step") == 3.0);
}

TEST_CASE("fused Adadelta on CUDA matches the CPU", "[optim][cuda]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
    compare([](TensorList p) { return std::make_unique<optim::Adadelta>(p, optim::AdadeltaOptions()); }, dtype, tol, tol);
    compare([](TensorList p) {
      return std::make_unique<optim::Adadelta>(p, optim::AdadeltaOptions(0.5).rho(0.95).weight_decay(0.1));
    }, dtype, tol, tol);
    // Capturable on the GPU (device step counts, one more launch) against the default on the CPU.
    compare([](TensorList p) { return std::make_unique<optim::Adadelta>(p, optim::AdadeltaOptions().capturable(true)); },
            dtype, tol, tol, 4, [](TensorList p) { return std::make_unique<optim::Adadelta>(p, optim::AdadeltaOptions()); });
  }
}
