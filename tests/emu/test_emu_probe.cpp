// A probe, not a test (hidden: run it by name or with "[probe]"): how far the CPU and the emulated
// CUDA log_softmax and its backward are from a float64 truth, to tell a tolerance problem in a
// failing comparison from a kernel bug.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>

#include "../tests/support/test_support.h"

using namespace ember;

TEST_CASE("probe: log_softmax backward of 100000 against a float64 truth", "[probe][.]") {
  Tensor x64 = testing::random_tensor({3, 100000}, 2, 0.5, 1.5);
  Tensor x32 = x64.to(kFloat32);
  Tensor w64 = testing::random_tensor({3, 100000}, 4321, 0.5, 1.5);
  auto grad = [&](Tensor x, Tensor w) {
    x = x.detach();
    x.set_requires_grad(true);
    Tensor y = log_softmax(x, -1);
    sum(mul(y, w)).backward();
    return std::make_pair(y.detach(), x.grad());
  };
  auto truth = grad(x32.to(kFloat64), w64.to(kFloat32).to(kFloat64));
  auto cpu = grad(x32, w64.to(kFloat32));
  auto gpu = grad(x32.to(cuda_device(0)), w64.to(kFloat32).to(cuda_device(0)));
  auto err = [&](const Tensor& a, const Tensor& t) {
    std::vector<double> av = a.to(kCPU).to_vector<double>(), tv = t.to_vector<double>();
    double worst = 0, worst_rel = 0;
    for (size_t i = 0; i < av.size(); ++i) {
      worst = std::max(worst, std::abs(av[i] - tv[i]));
      worst_rel = std::max(worst_rel, std::abs(av[i] - tv[i]) / std::abs(tv[i]));
    }
    return std::make_pair(worst, worst_rel);
  };
  auto ey_cpu = err(cpu.first, truth.first), ey_gpu = err(gpu.first, truth.first);
  auto eg_cpu = err(cpu.second, truth.second), eg_gpu = err(gpu.second, truth.second);
  std::printf("forward y: cpu max abs err %.3g (rel %.3g), cuda %.3g (rel %.3g)\n", ey_cpu.first, ey_cpu.second,
              ey_gpu.first, ey_gpu.second);
  std::printf("backward gx: cpu max abs err %.3g (rel %.3g), cuda %.3g (rel %.3g)\n", eg_cpu.first, eg_cpu.second,
              eg_gpu.first, eg_gpu.second);
}
