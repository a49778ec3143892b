// The CUDA test runner: every test compares a CUDA kernel with the CPU reference. Without a
// device it says so and exits 77, which ctest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <ember/core/cuda.h>

#include <cstdio>

// Every test case starts from an empty allocator cache, so tests do not inherit each other's cached
// blocks. Under the CPU emulation (tests/emu) this also keeps the suite from slowing down as the
// cache grows: each launch there re-protects every live device allocation.
class EmptyCacheAfterEachTest : public Catch::TestEventListenerBase {
 public:
  using Catch::TestEventListenerBase::TestEventListenerBase;
  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    ember::cuda::empty_cache();
    Catch::TestEventListenerBase::testCaseEnded(stats);
  }
};
CATCH_REGISTER_LISTENER(EmptyCacheAfterEachTest)

int main(int argc, char* argv[]) {
  if (!ember::cuda::is_available()) {
    std::printf("SKIPPED: no CUDA device present; the CUDA tests run on a machine with a GPU\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
