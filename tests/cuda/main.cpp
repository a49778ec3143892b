// The CUDA test runner: every test compares a CUDA kernel with the CPU reference. Without a
// device it says so and exits 77, which ctest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <ember/core/cuda.h>

#include <cstdio>

int main(int argc, char* argv[]) {
  if (!ember::cuda::is_available()) {
    std::printf("SKIPPED: no CUDA device present; the CUDA tests run on a machine with a GPU\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
