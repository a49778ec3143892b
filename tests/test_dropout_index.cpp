// dropout, index_select and cat: behaviour, gradchecks and errors.
#include <catch2/catch.hpp>

#include <random>

#include "support/test_support.h"

using namespace ember;
using ember::testing::gradcheck;
using ember::testing::random_tensor;

namespace {
Tensor f64(const std::vector<double>& values, const Shape& sizes) { return from_vector(values, sizes, kFloat64); }
Tensor indices(const std::vector<int64_t>& values) { return from_vector(values, {static_cast<int64_t>(values.size())}, kInt64); }
Tensor leaf(const Shape& sizes, uint64_t seed) { return random_tensor(sizes, seed).set_requires_grad(true); }
}  // namespace

TEST_CASE("dropout: identity when not training or p = 0", "[dropout]") {
  Tensor x = random_tensor({4, 5}, 1);
  CHECK(dropout(x, 0.5, false).is_same(x));
  CHECK(dropout(x, 0.0, true).is_same(x));
  CHECK(dropout(x, 1.0, true).sum().item() == 0.0);
}

TEST_CASE("dropout: kept elements scaled, rate close to p, reproducible by seed", "[dropout]") {
  Tensor x = ones({100000}, kFloat64);
  manual_seed(42);
  Tensor y = dropout(x, 0.3, true);
  std::vector<double> v = y.to_vector<double>();
  int64_t kept = 0;
  for (double e : v) {
    CHECK((e == 0.0 || e == Approx(1.0 / 0.7)));
    kept += e != 0.0;
  }
  CHECK(static_cast<double>(kept) / 100000 == Approx(0.7).margin(0.01));
  manual_seed(42);
  CHECK(dropout(x, 0.3, true).to_vector<double>() == v);
  // The stream moves on: the next call gives another mask.
  CHECK(dropout(x, 0.3, true).to_vector<double>() != v);
}

TEST_CASE("dropout: backward uses the forward mask", "[dropout]") {
  manual_seed(7);
  Tensor x = leaf({6, 7}, 2);
  Tensor y = dropout(x, 0.4, true);
  y.backward(ones({6, 7}, kFloat64));
  std::vector<double> out = y.to_vector<double>(), in = x.to_vector<double>(), g = x.grad().to_vector<double>();
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0.0) CHECK(g[i] == 0.0);
    else CHECK(g[i] == Approx(1.0 / 0.6));
    if (out[i] != 0.0) CHECK(out[i] == Approx(in[i] / 0.6));
  }
  // gradcheck with a fixed mask: reseed before every evaluation.
  Tensor x2 = leaf({3, 5}, 3);
  CHECK(gradcheck([](const TensorList& a) {
          manual_seed(11);
          return dropout(a[0].t(), 0.5, true);
        }, {x2}) == "");
}

TEST_CASE("dropout: errors", "[dropout]") {
  CHECK_THROWS_WITH(dropout(ones({2}), 1.5, true), Catch::Contains("dropout") && Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(dropout(ones({2}, kInt64), 0.5, true), Catch::Contains("floating"));
}

TEST_CASE("index_select: values and gradient with repeated indices", "[dropout]") {
  Tensor a = f64({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  CHECK(index_select(a, 0, indices({2, 0})).to_vector<double>() == std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3});
  CHECK(index_select(a, 1, indices({3, 3, 1})).to_vector<double>() ==
        std::vector<double>{3, 3, 1, 7, 7, 5, 11, 11, 9});
  CHECK(index_select(a.to(kInt64), -1, indices({0})).to_vector<int64_t>() == std::vector<int64_t>{0, 4, 8});
  Tensor x = a.clone().set_requires_grad(true);
  index_select(x, 1, indices({3, 3, 1})).sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 0, 2, 0, 1, 0, 2, 0, 1, 0, 2});
}

TEST_CASE("index_select: gradcheck at several dims, non-contiguous input", "[dropout]") {
  Tensor x = leaf({3, 4, 5}, 4);
  for (int64_t d = 0; d < 3; ++d) {
    Tensor idx = indices({2, 0, 2});
    CHECK(gradcheck([&](const TensorList& a) { return index_select(a[0], d, idx); }, {x}) == "");
    CHECK(gradcheck([&](const TensorList& a) { return index_select(a[0].transpose(0, 2), d, idx); }, {x}) == "");
  }
}

TEST_CASE("index_select: errors", "[dropout]") {
  Tensor a = ones({3, 4});
  CHECK_THROWS_WITH(index_select(a, 0, indices({0, 3})),
                    Catch::Contains("index_select") && Catch::Contains("index[1] = 3") && Catch::Contains("out of range"));
  CHECK_THROWS_WITH(index_select(a, 1, ones({2})), Catch::Contains("int64"));
  CHECK_THROWS_AS(index_select(a, 2, indices({0})), Error);
}

TEST_CASE("cat: values, gradcheck and errors", "[dropout]") {
  Tensor a = f64({1, 2, 3, 4}, {2, 2}), b = f64({5, 6}, {2, 1});
  CHECK(cat({a, b}, 1).to_vector<double>() == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(cat({a, b.t()}, 0).to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  Tensor x = leaf({2, 3}, 5), y = leaf({2, 4}, 6), z = leaf({2, 1}, 7);
  CHECK(gradcheck([](const TensorList& t) { return cat(t, 1); }, {x, y, z}) == "");
  Tensor u = leaf({3, 2}, 8), v = leaf({1, 2}, 9);
  CHECK(gradcheck([](const TensorList& t) { return cat({t[0].t(), t[1].t()}, -1); }, {u, v}) == "");
  // Only inputs that require grad get one.
  Tensor w = random_tensor({2, 2}, 10);
  CHECK(gradcheck([](const TensorList& t) { return cat(t, 0); }, {x.detach().set_requires_grad(true).narrow(1, 0, 2).detach().set_requires_grad(true), w}) == "");
  CHECK_THROWS_WITH(cat({a, ones({3, 1}, kFloat64)}, 1), Catch::Contains("cat") && Catch::Contains("does not match"));
  CHECK_THROWS_WITH(cat({a, ones({2, 2})}, 0), Catch::Contains("cat") && Catch::Contains("dtype"));
  CHECK_THROWS_WITH(cat({}, 0), Catch::Contains("non-empty"));
}
