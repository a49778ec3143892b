#include "inputs.h"

#include <algorithm>

#include <ember/kernels/cpu/parallel.h>

namespace bench {
namespace {

// splitmix64: a cheap, well-mixed hash of (seed, index); enough for benchmark operands.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

constexpr int64_t kGrain = 1 << 16;

}  // namespace

ember::Tensor random_nonzero(const ember::Shape& sizes, uint64_t seed, float low, float high, bool random_sign) {
  ember::Tensor t = ember::empty(sizes, ember::kFloat32);
  float* data = t.data<float>();
  uint64_t key = mix(seed);
  ember::kernels::cpu::parallel_for(t.numel(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint64_t bits = mix(key ^ static_cast<uint64_t>(i));
      // 24 random bits give a uniform float in [0, 1); bit 63 gives the sign.
      float u = static_cast<float>(bits & 0xFFFFFF) * (1.0f / 16777216.0f);
      float magnitude = low + (high - low) * u;
      data[i] = (random_sign && (bits >> 63)) ? -magnitude : magnitude;
    }
  });
  return t;
}

ember::Tensor random_targets(int64_t count, int64_t classes, uint64_t seed) {
  ember::Tensor t = ember::empty({count}, ember::kInt64);
  int64_t* data = t.data<int64_t>();
  uint64_t key = mix(seed ^ 0x5DEECE66DULL);
  for (int64_t i = 0; i < count; ++i) {
    data[i] = static_cast<int64_t>(mix(key ^ static_cast<uint64_t>(i)) % static_cast<uint64_t>(classes));
  }
  return t;
}

ember::Shape matrix_shape(int64_t n, int64_t cols) {
  cols = std::max<int64_t>(1, std::min(n, cols));
  return {std::max<int64_t>(1, n / cols), cols};
}

std::string shape_label(const ember::Shape& sizes) { return ember::shape_str(sizes); }

}  // namespace bench
