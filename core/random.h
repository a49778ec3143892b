// Seeded random numbers. Ember's generator is counter-based (Philox-4x32-10): a (seed, offset)
// pair fully describes its state, the same numbers come out on the CPU and on CUDA, and a
// checkpoint restores the stream exactly.
#pragma once
#include <cstdint>
#include <mutex>

#include <ember/core/tensor.h>

namespace ember {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) : seed_(seed) {}
  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  // Reserves `count` 128-bit counters and returns the first; callers draw from [first, first+count).
  uint64_t reserve(uint64_t count);
  struct State {
    uint64_t seed = 0;
    uint64_t offset = 0;
  };
  State state() const;
  void set_state(State state);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator (what torch.manual_seed seeds).
Generator& default_generator();
void manual_seed(uint64_t seed);

// Uniform in [low, high) / standard normal scaled; floating dtypes; any device.
Tensor rand(const Shape& sizes, TensorOptions options = {}, Generator* generator = nullptr);
Tensor randn(const Shape& sizes, TensorOptions options = {}, Generator* generator = nullptr);
Tensor& uniform_(Tensor& t, double low, double high, Generator* generator = nullptr);
Tensor& normal_(Tensor& t, double mean, double stddev, Generator* generator = nullptr);
// Integers uniform in [low, high), int64.
Tensor randint(int64_t low, int64_t high, const Shape& sizes, TensorOptions options = {kInt64},
               Generator* generator = nullptr);
// A random permutation of 0..n-1 (int64, on the CPU), Fisher-Yates driven by the generator.
Tensor randperm(int64_t n, Generator* generator = nullptr);

}  // namespace ember
