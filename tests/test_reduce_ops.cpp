// Reductions: known values, gradchecks at random shapes / dim sets / keepdim (also on
// non-contiguous inputs), and the error messages.
#include <catch2/catch.hpp>

#include <random>

#include "support/test_support.h"

using namespace ember;
using ember::testing::gradcheck;
using ember::testing::random_tensor;

namespace {

Tensor f64(const std::vector<double>& values, const Shape& sizes) { return from_vector(values, sizes, kFloat64); }

Tensor leaf(const Shape& sizes, uint64_t seed) { return random_tensor(sizes, seed).set_requires_grad(true); }

Shape random_shape(std::mt19937& rng, int min_dims = 1) {
  std::uniform_int_distribution<int> ndim(min_dims, 4), size(1, 4);
  Shape s(static_cast<size_t>(ndim(rng)));
  for (auto& v : s) v = size(rng);
  return s;
}

// A random non-empty subset of [0, ndim), sometimes written with negative dims.
Shape random_dims(std::mt19937& rng, int64_t ndim) {
  Shape dims;
  while (dims.empty())
    for (int64_t d = 0; d < ndim; ++d)
      if (rng() % 2) dims.push_back(rng() % 3 == 0 ? d - ndim : d);
  return dims;
}

}  // namespace

TEST_CASE("sum and mean: known values", "[reduce]") {
  Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(sum(a).item() == 21.0);
  CHECK(a.mean().item() == 3.5);
  CHECK(sum(a, {0}).to_vector<double>() == std::vector<double>{5, 7, 9});
  CHECK(sum(a, {1}).to_vector<double>() == std::vector<double>{6, 15});
  CHECK(sum(a, {-1}, true).sizes() == Shape{2, 1});
  CHECK(mean(a, {0, 1}, true).sizes() == Shape{1, 1});
  CHECK(mean(a, {0}).to_vector<double>() == std::vector<double>{2.5, 3.5, 4.5});
  // Non-adjacent dims of a 3-d tensor: the permuted path.
  Tensor b = arange(0, 24, 1, kFloat64).reshape({2, 3, 4});
  Tensor s = sum(b, {0, 2});
  CHECK(s.sizes() == Shape{3});
  CHECK(s.to_vector<double>() == std::vector<double>{0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 92, 124});
  // Non-contiguous input.
  CHECK(sum(a.t(), {1}).to_vector<double>() == std::vector<double>{5, 7, 9});
  CHECK(sum(scalar_tensor(2.5, kFloat64)).item() == 2.5);
  CHECK(sum(ones({3, 0}, kFloat64), {1}).to_vector<double>() == std::vector<double>{0, 0, 0});
  // Column sums wider than one task's slab of 512 columns (a partial last slab), at outer 1 and 2:
  // c[o, i] = sum over r < 3 of (o*R + r)*I + i = 3*((o*R + 1)*I + i), exact in float64.
  for (int64_t outer : {1, 2}) {
    const int64_t R = 3, I = 1100;
    Tensor c = sum(arange(0, static_cast<double>(outer * R * I), 1, kFloat64).reshape({outer, R, I}), {1});
    std::vector<double> got = c.to_vector<double>();
    bool exact = true;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < I; ++i) exact &= got[static_cast<size_t>(o * I + i)] == static_cast<double>(R * ((o * R + 1) * I + i));
    INFO("outer " << outer);
    CHECK(exact);
  }
}

TEST_CASE("max and argmax: values, first index on ties", "[reduce]") {
  Tensor a = f64({1, 7, 7, 2, 9, 0, 9, 3}, {2, 4});
  auto [values, indices] = max(a, 1);
  CHECK(values.to_vector<double>() == std::vector<double>{7, 9});
  CHECK(indices.dtype() == kInt64);
  CHECK(indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(argmax(a, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1, 1});
  CHECK(argmax(a, -1, true).sizes() == Shape{2, 1});
  // The gradient goes to the first maximum only.
  Tensor x = f64({3, 5, 5, 1}, {4}).set_requires_grad(true);
  max(x, 0).first.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 0, 0});
}

TEST_CASE("sum_to: broadcast gradients summed back", "[reduce]") {
  Tensor g = arange(0, 24, 1, kFloat64).reshape({2, 3, 4});
  CHECK(sum_to(g, {2, 3, 4}).is_same(g));  // no work when the shape already matches
  CHECK(sum_to(g, {4}).to_vector<double>() == sum(g, {0, 1}).to_vector<double>());
  CHECK(sum_to(g, {3, 1}).sizes() == Shape{3, 1});
  CHECK(sum_to(g, {3, 1}).to_vector<double>() == sum(g, {0, 2}).to_vector<double>());
  CHECK(sum_to(g, {1, 1, 1}).item() == 276.0);
  CHECK(sum_to(g, {}).item() == 276.0);
  CHECK_THROWS_WITH(sum_to(g, {5}), Catch::Contains("sum_to"));
  CHECK_THROWS_WITH(sum_to(ones({3}), {2, 3}), Catch::Contains("sum_to"));
}

TEST_CASE("sum and mean: gradcheck at random shapes and dims", "[reduce]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 12; ++trial) {
    Shape shape = random_shape(rng);
    Shape dims = random_dims(rng, static_cast<int64_t>(shape.size()));
    bool keepdim = trial % 2 == 0;
    INFO("shape " << shape_str(shape) << " dims " << shape_str(dims) << " keepdim " << keepdim);
    Tensor x = leaf(shape, 100 + trial);
    CHECK(gradcheck([&](const TensorList& in) { return sum(in[0], dims, keepdim); }, {x}) == "");
    CHECK(gradcheck([&](const TensorList& in) { return mean(in[0], dims, keepdim); }, {x}) == "");
  }
  Tensor x = leaf({3, 4}, 5);
  CHECK(gradcheck([](const TensorList& in) { return sum(in[0]); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return in[0].mean(); }, {x}) == "");
}

TEST_CASE("sum, mean, max: gradcheck on non-contiguous inputs", "[reduce]") {
  Tensor x = leaf({3, 4, 5}, 11);
  CHECK(gradcheck([](const TensorList& in) { return sum(in[0].transpose(0, 2), {1}); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return mean(in[0].permute({1, 2, 0}), {0, 2}, true); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return max(in[0].transpose(1, 2), 1).first; }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return sum(in[0].slice(2, 0, 5, 2), {0, 2}); }, {x}) == "");
  // Broadcast (stride-0) input.
  Tensor b = leaf({4, 1}, 12);
  CHECK(gradcheck([](const TensorList& in) { return sum(in[0].expand({4, 6}), {0}); }, {b}) == "");
}

TEST_CASE("max: gradcheck at random shapes and dims", "[reduce]") {
  std::mt19937 rng(9);
  for (int trial = 0; trial < 8; ++trial) {
    Shape shape = random_shape(rng);
    int64_t dim = static_cast<int64_t>(rng() % shape.size());
    bool keepdim = trial % 2 == 1;
    INFO("shape " << shape_str(shape) << " dim " << dim << " keepdim " << keepdim);
    Tensor x = leaf(shape, 200 + trial);  // continuous random values: no ties
    CHECK(gradcheck([&](const TensorList& in) { return max(in[0], dim, keepdim).first; }, {x}) == "");
  }
}

TEST_CASE("sum_to: gradcheck", "[reduce]") {
  Tensor x = leaf({2, 3, 4}, 21);
  CHECK(gradcheck([](const TensorList& in) { return sum_to(in[0], {3, 1}); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return sum_to(in[0], {1, 4}); }, {x}) == "");
}

TEST_CASE("reductions: errors name the op and the problem", "[reduce]") {
  Tensor a = ones({2, 3});
  CHECK_THROWS_WITH(sum(a, {0, 0}), Catch::Contains("sum") && Catch::Contains("twice"));
  CHECK_THROWS_AS(sum(a, {2}), Error);
  CHECK_THROWS_WITH(mean(ones({2}, kInt64)), Catch::Contains("mean") && Catch::Contains("floating"));
  CHECK_THROWS_WITH(max(ones({2, 0}), 1), Catch::Contains("max") && Catch::Contains("size 0"));
  CHECK_THROWS_WITH(max(scalar_tensor(1.0), 1), Catch::Contains("max: dim 1 out of range"));
  CHECK_THROWS_AS(argmax(a, 5), Error);
}

TEST_CASE("reductions: dim 0 or -1 of a 0-d tensor reduces it to itself, as PyTorch", "[reduce]") {
  Tensor s = scalar_tensor(3.5, kFloat64);
  for (int64_t d : {0, -1}) {
    INFO("dim " << d);
    CHECK(sum(s, {d}).dim() == 0);
    CHECK(sum(s, {d}).item() == 3.5);
    CHECK(mean(s, {d}, /*keepdim=*/true).dim() == 0);
    CHECK(mean(s, {d}, true).item() == 3.5);
    auto [value, index] = max(s, d);
    CHECK((value.dim() == 0 && index.dim() == 0));
    CHECK((value.item() == 3.5 && index.item<int64_t>() == 0));
  }
  CHECK_THROWS_WITH(sum(s, {1}), Catch::Contains("sum: dim 1 out of range"));
  CHECK_THROWS_WITH(sum(s, {0, -1}), Catch::Contains("sum: dim -1 appears twice"));
  CHECK_THROWS_WITH(mean(s, {0, 0}), Catch::Contains("mean: dim 0 appears twice"));
  // The gradient flows back to the scalar.
  Tensor x = scalar_tensor(2.0, kFloat64).set_requires_grad(true);
  (max(x, 0).first * 3.0 + sum(x, {-1})).backward();
  CHECK(x.grad().item() == 4.0);
}
