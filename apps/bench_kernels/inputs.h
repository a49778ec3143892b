// Operands for the benchmarks: seeded random float32 values that are never zero (the sign is
// random, the magnitude in [low, high)), int64 class targets, and shape helpers for the sweeps.
#pragma once
#include <cstdint>
#include <string>

#include <ember/ember.h>

namespace bench {

// Float32 CPU tensor; element i depends only on (seed, i), so workloads are reproducible.
ember::Tensor random_nonzero(const ember::Shape& sizes, uint64_t seed, float low = 0.1f, float high = 1.0f,
                             bool random_sign = true);
// Int64 CPU tensor of values uniform in [0, classes).
ember::Tensor random_targets(int64_t count, int64_t classes, uint64_t seed);

// A matrix of about n elements with `cols` columns (fewer when n is smaller).
ember::Shape matrix_shape(int64_t n, int64_t cols);
// "[a, b, c]"
std::string shape_label(const ember::Shape& sizes);
// Bytes of float32 / int64 operands of `elements` elements.
inline double f32_bytes(int64_t elements) { return 4.0 * static_cast<double>(elements); }
inline double i64_bytes(int64_t elements) { return 8.0 * static_cast<double>(elements); }

}  // namespace bench
