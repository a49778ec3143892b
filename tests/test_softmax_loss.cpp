// softmax / log_softmax / nll_loss / cross_entropy: known values, gradchecks (random shapes and
// dims, non-contiguous inputs, every reduction) and the errors for bad shapes, dtypes, targets.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "support/test_support.h"

using namespace ember;
using ember::testing::gradcheck;
using ember::testing::random_tensor;

namespace {
Tensor f64(const std::vector<double>& values, const Shape& sizes) { return from_vector(values, sizes, kFloat64); }
Tensor targets(const std::vector<int64_t>& values) { return from_vector(values, {static_cast<int64_t>(values.size())}, kInt64); }
Tensor leaf(const Shape& sizes, uint64_t seed, double low = -2.0, double high = 2.0) {
  return random_tensor(sizes, seed, low, high).set_requires_grad(true);
}
}  // namespace

TEST_CASE("softmax and log_softmax: known values, stable for large inputs", "[softmax]") {
  Tensor x = f64({1, 2, 3, 1000, 1000, 1000}, {2, 3});
  std::vector<double> y = softmax(x, 1).to_vector<double>();
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(y[0] == Approx(std::exp(1.0) / z).epsilon(1e-12));
  CHECK(y[2] == Approx(std::exp(3.0) / z).epsilon(1e-12));
  CHECK(y[3] == Approx(1.0 / 3.0).epsilon(1e-12));  // no overflow: the max is subtracted
  std::vector<double> ly = log_softmax(x, -1).to_vector<double>();
  CHECK(ly[1] == Approx(2.0 - std::log(z)).epsilon(1e-12));
  CHECK(ly[4] == Approx(-std::log(3.0)).epsilon(1e-12));
  // Along dim 0 (inner > 1): columns sum to one.
  std::vector<double> col = sum(softmax(x, 0), {0}).to_vector<double>();
  for (double c : col) CHECK(c == Approx(1.0));
  // float32 too.
  CHECK(softmax(x.to(kFloat32), 1).to_vector<float>()[3] == Approx(1.0f / 3.0f));
}

TEST_CASE("softmax and log_softmax: gradcheck at random shapes and dims", "[softmax]") {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 10; ++trial) {
    Shape shape(static_cast<size_t>(1 + rng() % 3));
    for (auto& s : shape) s = 1 + static_cast<int64_t>(rng() % 5);
    int64_t dim = static_cast<int64_t>(rng() % shape.size()) - (trial % 2 ? static_cast<int64_t>(shape.size()) : 0);
    INFO("shape " << shape_str(shape) << " dim " << dim);
    Tensor x = leaf(shape, 300 + trial);
    CHECK(gradcheck([&](const TensorList& in) { return softmax(in[0], dim); }, {x}) == "");
    CHECK(gradcheck([&](const TensorList& in) { return log_softmax(in[0], dim); }, {x}) == "");
  }
}

TEST_CASE("softmax and log_softmax: gradcheck on non-contiguous inputs", "[softmax]") {
  Tensor x = leaf({4, 3, 5}, 31);
  CHECK(gradcheck([](const TensorList& in) { return softmax(in[0].transpose(0, 2), 1); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return log_softmax(in[0].permute({2, 0, 1}), -1); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return log_softmax(in[0].slice(1, 0, 3, 2), 0); }, {x}) == "");
}

TEST_CASE("cross_entropy: against a hand computation", "[softmax]") {
  Tensor logits = f64({1, 2, 3, 0.5, -1, 2}, {2, 3});
  Tensor t = targets({2, 0});
  double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  double lse1 = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0));
  double l0 = lse0 - 3.0, l1 = lse1 - 0.5;
  CHECK(cross_entropy(logits, t).item() == Approx((l0 + l1) / 2).epsilon(1e-12));
  CHECK(cross_entropy(logits, t, Reduction::Sum).item() == Approx(l0 + l1).epsilon(1e-12));
  std::vector<double> none = cross_entropy(logits, t, Reduction::None).to_vector<double>();
  REQUIRE(none.size() == 2);
  CHECK(none[0] == Approx(l0).epsilon(1e-12));
  CHECK(none[1] == Approx(l1).epsilon(1e-12));
  // The same as log_softmax followed by nll_loss.
  CHECK(nll_loss(log_softmax(logits, 1), t).item() == Approx((l0 + l1) / 2).epsilon(1e-12));
  // Gradient of the mean: (softmax - onehot) / N.
  Tensor x = logits.clone().set_requires_grad(true);
  cross_entropy(x, t).backward();
  std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g[2] == Approx((std::exp(3.0 - lse0) - 1.0) / 2).epsilon(1e-12));
  CHECK(g[4] == Approx(std::exp(-1.0 - lse1) / 2).epsilon(1e-12));
}

TEST_CASE("nll_loss: known values", "[softmax]") {
  Tensor lp = f64({-0.1, -2.0, -3.0, -1.5, -0.7, -4.0}, {2, 3});
  Tensor t = targets({1, 2});
  CHECK(nll_loss(lp, t).item() == Approx((2.0 + 4.0) / 2));
  CHECK(nll_loss(lp, t, Reduction::Sum).item() == Approx(6.0));
  CHECK(nll_loss(lp, t, Reduction::None).to_vector<double>() == std::vector<double>{2.0, 4.0});
}

TEST_CASE("cross_entropy and nll_loss: gradcheck for every reduction", "[softmax]") {
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    for (int trial = 0; trial < 3; ++trial) {
      int64_t n = 1 + trial * 3, c = 2 + trial * 4;
      std::vector<int64_t> t(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) t[k] = (k * 7 + trial) % c;
      Tensor target = targets(t);
      Tensor x = leaf({n, c}, 400 + trial);
      INFO("N " << n << " C " << c << " reduction " << static_cast<int>(r));
      CHECK(gradcheck([&](const TensorList& in) { return cross_entropy(in[0], target, r); }, {x}) == "");
      CHECK(gradcheck([&](const TensorList& in) { return nll_loss(in[0], target, r); }, {x}) == "");
      // Non-contiguous logits.
      Tensor xt = leaf({c, n}, 500 + trial);
      CHECK(gradcheck([&](const TensorList& in) { return cross_entropy(in[0].t(), target, r); }, {xt}) == "");
    }
  }
}

TEST_CASE("cross_entropy: the MNIST shape (N=100, C=10) matches log_softmax + nll_loss", "[softmax]") {
  Tensor x = random_tensor({100, 10}, 77, -5, 5);
  std::vector<int64_t> t(100);
  for (int k = 0; k < 100; ++k) t[k] = (k * 3) % 10;
  Tensor target = targets(t);
  std::string why;
  CHECK(ember::testing::all_close(cross_entropy(x, target, Reduction::None),
                                  nll_loss(log_softmax(x, 1), target, Reduction::None), 1e-12, 1e-12, &why));
  INFO(why);
  Tensor x1 = x.clone().set_requires_grad(true), x2 = x.clone().set_requires_grad(true);
  cross_entropy(x1, target).backward();
  nll_loss(log_softmax(x2, 1), target).backward();
  CHECK(ember::testing::all_close(x1.grad(), x2.grad(), 1e-10, 1e-12, &why));
}

TEST_CASE("cross_entropy: mean and sum (reduced in the kernel) equal the reduced per-row losses", "[softmax]") {
  for (int64_t n : {1, 2, 100, 1000}) {
    INFO("N " << n);
    Tensor x = random_tensor({n, 10}, 900 + static_cast<uint64_t>(n), -5, 5);
    std::vector<int64_t> t(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) t[k] = (k * 7) % 10;
    Tensor target = targets(t);
    Tensor none = cross_entropy(x, target, Reduction::None);
    CHECK(cross_entropy(x, target, Reduction::Sum).item() == Approx(sum(none).item()).epsilon(1e-12));
    CHECK(cross_entropy(x, target, Reduction::Mean).item() == Approx(mean(none).item()).epsilon(1e-12));
    CHECK(cross_entropy(x, target, Reduction::Mean).dim() == 0);
  }
}

TEST_CASE("losses: errors for bad shapes, dtypes and targets", "[softmax]") {
  Tensor logits = zeros({3, 4}, kFloat64);
  CHECK_THROWS_WITH(cross_entropy(logits, targets({0, 1, 4})),
                    Catch::Contains("cross_entropy") && Catch::Contains("target[2] = 4") && Catch::Contains("out of range"));
  CHECK_THROWS_WITH(nll_loss(logits, targets({0, -1, 2})), Catch::Contains("nll_loss") && Catch::Contains("target[1] = -1"));
  CHECK_THROWS_WITH(cross_entropy(logits, zeros({3}, kFloat32)), Catch::Contains("int64"));
  CHECK_THROWS_WITH(cross_entropy(logits, targets({0, 1})), Catch::Contains("expected a target of shape (3)"));
  CHECK_THROWS_WITH(cross_entropy(zeros({3, 4, 2}), targets({0, 1, 2})), Catch::Contains("2-d"));
  CHECK_THROWS_WITH(cross_entropy(zeros({3, 4}, kInt64), targets({0, 1, 2})), Catch::Contains("floating"));
  CHECK_THROWS_WITH(softmax(ones({2, 3}), 2), Catch::Contains("softmax"));
  CHECK_THROWS_WITH(log_softmax(ones({2}, kInt64), 0), Catch::Contains("floating"));
}

// float32 logits near 3e4 and +-1e4, where a float32 shift m + log(s) would be rounded by the
// ulp of m (0.002 at 3e4): log-probabilities, probabilities, the cross-entropy and its gradient
// against float64 computations from the same float32 values. Log-probabilities and losses within
// 1e-5 plus the float32 spacing of the expected value (-20000.69 is only representable to 0.001),
// probabilities and gradients within 1e-6.
TEST_CASE("float32 softmax, log_softmax and cross_entropy: large logits match float64", "[softmax]") {
  const std::vector<float> values = {3e4f,   3e4f + 1,   3e4f + 2,  // the probe's rows
                                     -1e4f,  1e4f,       1e4f,
                                     -1e4f,  1e4f,       1e4f - 1,   // target 0: a loss near 2e4
                                     1e4f + 0.5f, -3e4f, 1e4f,
                                     -3e4f,  -3e4f + 0.25f, -3e4f - 1.5f};
  const std::vector<int64_t> t = {2, 1, 0, 2, 1};
  const int64_t n = 5, c = 3;
  const Tensor x = from_vector<float>(values, {n, c});
  const Tensor target = targets(t);
  // The float64 reference: lp = (x - m) - log sum exp(x - m).
  std::vector<double> lp(values.size()), p(values.size()), grad(values.size()), loss(static_cast<size_t>(n));
  for (int64_t row = 0; row < n; ++row) {
    double m = values[row * c];
    for (int64_t k = 1; k < c; ++k) m = std::max(m, static_cast<double>(values[row * c + k]));
    double s = 0;
    for (int64_t k = 0; k < c; ++k) s += std::exp(static_cast<double>(values[row * c + k]) - m);
    for (int64_t k = 0; k < c; ++k) {
      const size_t i = static_cast<size_t>(row * c + k);
      lp[i] = (static_cast<double>(values[i]) - m) - std::log(s);
      p[i] = std::exp(lp[i]);
      grad[i] = p[i] - (k == t[row] ? 1.0 : 0.0);
    }
    loss[row] = -lp[row * c + t[row]];
  }
  const double loss_sum = loss[0] + loss[1] + loss[2] + loss[3] + loss[4];
  const Tensor lp_ref = f64(lp, {n, c}), p_ref = f64(p, {n, c}), grad_ref = f64(grad, {n, c});
  const double float_eps = std::numeric_limits<float>::epsilon();
  std::string why;
  auto close = [&](const Tensor& actual, const Tensor& expected, double rtol, double atol) {
    REQUIRE(actual.dtype() == kFloat32);
    const bool ok = ember::testing::all_close(actual.to(kFloat64), expected, rtol, atol, &why);
    INFO(why);
    CHECK(ok);
  };
  SECTION("log_softmax and softmax, along the rows and along dim 0") {
    close(log_softmax(x, 1), lp_ref, float_eps, 1e-5);
    close(log_softmax(x.t(), 0).t(), lp_ref, float_eps, 1e-5);
    close(softmax(x, 1), p_ref, 0, 1e-6);
    close(softmax(x.t(), 0).t(), p_ref, 0, 1e-6);
  }
  SECTION("cross_entropy forward") {
    close(cross_entropy(x, target, Reduction::None), f64(loss, {n}), float_eps, 1e-5);
    close(cross_entropy(x, target, Reduction::Sum), f64({loss_sum}, {}), float_eps, 1e-5);
    close(cross_entropy(x, target, Reduction::Mean), f64({loss_sum / n}, {}), float_eps, 1e-5);
  }
  SECTION("cross_entropy gradient (sum and mean), and log_softmax + nll_loss's") {
    Tensor xs = x.clone().set_requires_grad(true);
    cross_entropy(xs, target, Reduction::Sum).backward();
    close(xs.grad(), grad_ref, 0, 1e-6);
    Tensor xm = x.clone().set_requires_grad(true);
    cross_entropy(xm, target, Reduction::Mean).backward();
    close(xm.grad(), mul(grad_ref, 1.0 / n), 0, 1e-6 / n);
    Tensor xl = x.clone().set_requires_grad(true);
    nll_loss(log_softmax(xl, 1), target, Reduction::Sum).backward();
    close(xl.grad(), grad_ref, 0, 1e-6);
  }
}
