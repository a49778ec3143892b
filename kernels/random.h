// Random fills from the Philox stream (kernels/philox.h): element i of a contiguous tensor takes
// word i%4 of philox(seed, offset + i/4), so the CPU and CUDA fills are identical.
#pragma once
#include <cstdint>

#include <ember/core/tensor.h>

namespace ember::kernels {
#define EMBER_RANDOM_KERNELS                                                                       \
  /* out[i] = low + (high - low) * u_i, u_i uniform in [0, 1); out contiguous, floating. */        \
  void uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset);        \
  /* out[i] = mean + stddev * n_i, n_i standard normal by Box-Muller on words (2j, 2j+1). */        \
  void normal(const Tensor& out, double mean, double stddev, uint64_t seed, uint64_t offset);
namespace cpu { EMBER_RANDOM_KERNELS }
namespace cuda { EMBER_RANDOM_KERNELS }
#undef EMBER_RANDOM_KERNELS
}  // namespace ember::kernels
