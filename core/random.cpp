#include <ember/core/random.h>
#include <ember/kernels/dispatch.h>
#include <ember/ops/ops.h>
#include <ember/kernels/philox.h>
#include <ember/kernels/random.h>

#include <numeric>

namespace ember {

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seed_;
}

uint64_t Generator::reserve(uint64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t first = offset_;
  offset_ += count;
  return first;
}

Generator::State Generator::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {seed_, offset_};
}

void Generator::set_state(State state) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = state.seed;
  offset_ = state.offset;
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {
Generator& pick(Generator* g) { return g ? *g : default_generator(); }
}  // namespace

namespace {
// Runs `fill` on t, or (t a strided view) on a contiguous tensor of its shape copied in after, so
// the values land in t's logical order either way, as PyTorch's in-place fills do.
template <typename Fill>
Tensor& fill_in_logical_order(Tensor& t, const char* op, Fill fill) {
  EMBER_CHECK(t.defined(), op, ": argument 'self' is undefined");
  EMBER_CHECK(is_floating(t.dtype()), op, ": expected a floating tensor, got ", t.str());
  detail::begin_inplace_write(t, op);
  if (t.is_contiguous()) {
    fill(t);
  } else {
    Tensor dense = empty(t.sizes(), TensorOptions(t.dtype()).with_device(t.device()));
    fill(dense);
    t.copy_(dense);
  }
  return t;
}
}  // namespace

Tensor& uniform_(Tensor& t, double low, double high, Generator* generator) {
  return fill_in_logical_order(t, "uniform_", [&](const Tensor& dense) {
    Generator& g = pick(generator);
    uint64_t offset = g.reserve((dense.numel() + 3) / 4);
    EMBER_KERNEL(dense.device(), uniform, dense, low, high, g.seed(), offset);
  });
}

Tensor& normal_(Tensor& t, double mean, double stddev, Generator* generator) {
  return fill_in_logical_order(t, "normal_", [&](const Tensor& dense) {
    Generator& g = pick(generator);
    uint64_t offset = g.reserve((dense.numel() + 1) / 2);
    EMBER_KERNEL(dense.device(), normal, dense, mean, stddev, g.seed(), offset);
  });
}

Tensor rand(const Shape& sizes, TensorOptions options, Generator* generator) {
  bool requires_grad = options.requires_grad;
  Tensor t = empty(sizes, options.with_requires_grad(false));
  uniform_(t, 0.0, 1.0, generator);
  return requires_grad ? t.set_requires_grad(true) : t;
}

Tensor randn(const Shape& sizes, TensorOptions options, Generator* generator) {
  bool requires_grad = options.requires_grad;
  Tensor t = empty(sizes, options.with_requires_grad(false));
  normal_(t, 0.0, 1.0, generator);
  return requires_grad ? t.set_requires_grad(true) : t;
}

Tensor randint(int64_t low, int64_t high, const Shape& sizes, TensorOptions options, Generator* generator) {
  EMBER_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  Tensor u = rand(sizes, TensorOptions(kFloat64).with_device(options.device), generator);
  // floor(low + (high - low) * u): shift to [0, high-low) first so the int cast truncates down.
  return add(mul(u, static_cast<double>(high - low)).to(kInt64).to(kFloat64), static_cast<double>(low)).to(options.dtype);
}

Tensor randperm(int64_t n, Generator* generator) {
  Generator& g = pick(generator);
  uint64_t seed = g.seed(), offset = g.reserve(static_cast<uint64_t>(n));
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    kernels::Philox4 r = kernels::philox(seed, offset + static_cast<uint64_t>(i));
    uint64_t word = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
    std::swap(perm[i], perm[word % static_cast<uint64_t>(i + 1)]);
  }
  return from_vector(perm, {n});
}

}  // namespace ember
