// ember::profiler on a GPU: CUDA kernel calls are timed by events (counted, positive times), the
// caller's results are unchanged, and work captured in a CUDA graph is not timed.
#include <catch2/catch.hpp>

#include <ember/core/cuda_graph.h>
#include <ember/core/profiler.h>
#include <ember/ember.h>

#include "../support/test_support.h"

using namespace ember;

using testing::find_kernel_stats;

TEST_CASE("profiler: CUDA calls are timed on the device", "[cuda][profiler]") {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Tensor a = testing::random_tensor({256, 256}, 1, -1, 1, kFloat32).to(dev);
  Tensor b = testing::random_tensor({256, 256}, 2, -1, 1, kFloat32).to(dev);
  Tensor expected = matmul(a, b).to(kCPU);
  profiler::start();
  Tensor c = matmul(a, b);
  for (int i = 0; i < 4; ++i) add(a, b);
  std::vector<profiler::KernelStats> stats = profiler::stop();
  const profiler::KernelStats* gemm = find_kernel_stats(stats, "gemm");
  const profiler::KernelStats* binary = find_kernel_stats(stats, "binary");
  REQUIRE(gemm != nullptr);
  REQUIRE(binary != nullptr);
  CHECK(gemm->calls == 1);
  CHECK(binary->calls == 4);
  CHECK(gemm->device == "cuda:0");
  CHECK(gemm->total_us > 0);
  CHECK(binary->min_us > 0);
  std::string why;
  const bool same = testing::all_close(c.to(kCPU), expected, 0, 0, &why);
  INFO(why);
  CHECK(same);  // timing does not change what the kernel computes
}

TEST_CASE("profiler: work captured in a CUDA graph is not timed", "[cuda][profiler][graph]") {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  Tensor x = testing::random_tensor({1000}, 3, -1, 1, kFloat32).to(dev);
  Tensor y = empty({1000}, TensorOptions(kFloat32).with_device(dev));
  relu(x);  // warm-up outside the capture
  profiler::start();
  cuda::Graph graph;
  graph.capture([&] {
    NoGradGuard no_grad;
    y.copy_(relu(x));
  });
  graph.replay();
  std::vector<profiler::KernelStats> stats = profiler::stop();
  CHECK(find_kernel_stats(stats, "unary") == nullptr);
  std::string why;
  const bool same = testing::all_close(y.to(kCPU), relu(x.to(kCPU)), 0, 0, &why);
  INFO(why);
  CHECK(same);
}
