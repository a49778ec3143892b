// ember::profiler on the CPU: every EMBER_KERNEL call made while recording is counted under its
// kernel's name, nothing outside a recording is, and the table names every row.
#include <catch2/catch.hpp>

#include <ember/core/profiler.h>
#include <ember/ember.h>

#include "support/test_support.h"

using namespace ember;

using testing::find_kernel_stats;

TEST_CASE("profiler: counts and times each kernel call while recording", "[profiler]") {
  Tensor a = rand({64, 64}), b = rand({64, 64});
  add(a, b);  // before the recording: not counted
  profiler::start();
  CHECK(profiler::is_recording());
  for (int i = 0; i < 3; ++i) add(a, b);
  matmul(a, b);
  matmul(a, b);
  std::vector<profiler::KernelStats> stats = profiler::stop();
  CHECK_FALSE(profiler::is_recording());
  add(a, b);  // after: not counted

  const profiler::KernelStats* binary = find_kernel_stats(stats, "binary");
  const profiler::KernelStats* gemm = find_kernel_stats(stats, "gemm");
  REQUIRE(binary != nullptr);
  REQUIRE(gemm != nullptr);
  CHECK(binary->calls == 3);
  CHECK(gemm->calls == 2);
  CHECK(binary->device == "cpu");
  for (const auto& s : stats) {
    CHECK(s.calls > 0);
    CHECK(s.min_us >= 0);
    CHECK(s.min_us <= s.max_us);
    CHECK(s.total_us >= s.max_us);
  }
  for (size_t i = 1; i < stats.size(); ++i) CHECK(stats[i - 1].total_us >= stats[i].total_us);

  std::string table = profiler::format(stats, 2);
  CHECK(table.find("binary") != std::string::npos);
  CHECK(table.find("gemm") != std::string::npos);
  CHECK(table.find("total") != std::string::npos);
  CHECK(table.find("1.50") != std::string::npos);  // 3 binary calls over 2 iterations
}

TEST_CASE("profiler: autograd's backward kernels are recorded too", "[profiler]") {
  Tensor x = rand({8, 3, 12, 12});
  x.set_requires_grad(true);
  profiler::start();
  Tensor y = max_pool2d(x, {2, 2});
  sum(y).backward();
  std::vector<profiler::KernelStats> stats = profiler::stop();
  REQUIRE(find_kernel_stats(stats, "max_pool2d_forward") != nullptr);
  REQUIRE(find_kernel_stats(stats, "max_pool2d_backward") != nullptr);
  CHECK(find_kernel_stats(stats, "max_pool2d_backward")->calls == 1);
}

TEST_CASE("profiler: a new recording starts empty, stop without start gives nothing", "[profiler]") {
  CHECK(profiler::stop().empty());
  Tensor a = rand({16});
  profiler::start();
  relu(a);
  profiler::start();  // drops the relu
  add(a, a);
  std::vector<profiler::KernelStats> stats = profiler::stop();
  CHECK(find_kernel_stats(stats, "unary") == nullptr);
  REQUIRE(find_kernel_stats(stats, "binary") != nullptr);
  CHECK(profiler::stop().empty());
}
