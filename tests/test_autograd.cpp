// The autograd engine: graph shapes (diamonds, reuse), grad mode, accumulation, hooks, freed
// graphs, explicit root gradients and detach.
#include <catch2/catch.hpp>

#include <cmath>

#include "support/test_support.h"

using namespace ember;

namespace {

Tensor leaf(const std::vector<double>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())}).set_requires_grad(true);
}

void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(t.defined());
  std::vector<double> got = t.to_vector<double>();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(expected[i]).margin(tol));
  }
}

}  // namespace

TEST_CASE("autograd: diamond graph sums both paths", "[autograd]") {
  // d = a*b + a with a = 2x, b = exp(x):  dd/dx = 2 e^x + 2x e^x + 2
  Tensor x = leaf({-0.5, 0.25, 1.0});
  Tensor a = x * 2.0;
  Tensor b = exp(x);
  Tensor d = a * b + a;
  sum(d).backward();
  std::vector<double> expected;
  for (double v : {-0.5, 0.25, 1.0}) expected.push_back(2 * std::exp(v) + 2 * v * std::exp(v) + 2);
  check_values(x.grad(), expected);
  CHECK(a.grad().defined() == false);  // non-leaves keep no .grad
}

TEST_CASE("autograd: a tensor used twice by one op", "[autograd]") {
  Tensor x = leaf({1.0, -2.0, 3.0});
  sum(x * x).backward();
  check_values(x.grad(), {2.0, -4.0, 6.0});

  Tensor y = leaf({1.0, 2.0});
  sum(y + y).backward();
  check_values(y.grad(), {2.0, 2.0});
}

TEST_CASE("autograd: two leaves and an input that needs no grad", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  Tensor w = leaf({3.0, 4.0});
  Tensor c = from_vector<double>({10.0, 20.0}, {2});  // a constant
  sum(x * w + c * w).backward();
  check_values(x.grad(), {3.0, 4.0});
  check_values(w.grad(), {11.0, 22.0});
  CHECK_FALSE(c.grad().defined());
  CHECK_FALSE(c.requires_grad());
}

TEST_CASE("autograd: no_grad records nothing and restores the mode", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  CHECK(autograd::GradMode::is_enabled());
  {
    NoGradGuard no_grad;
    CHECK_FALSE(autograd::GradMode::is_enabled());
    Tensor y = x * 3.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    {
      NoGradGuard nested;
      CHECK_FALSE(autograd::GradMode::is_enabled());
    }
    CHECK_FALSE(autograd::GradMode::is_enabled());
    CHECK_THROWS_AS(y.backward(ones_like(y)), Error);
  }
  CHECK(autograd::GradMode::is_enabled());
  Tensor z = x * 3.0;
  CHECK(z.requires_grad());
  CHECK(z.grad_fn() != nullptr);
  CHECK_FALSE(z.is_leaf());
}

TEST_CASE("autograd: gradients accumulate over two backward calls", "[autograd]") {
  Tensor x = leaf({1.0, 2.0, 3.0});
  sum(x * x).backward();
  Tensor first_grad = x.grad();
  sum(x * 5.0).backward();
  check_values(x.grad(), {7.0, 9.0, 11.0});
  CHECK(first_grad.storage() == x.grad().storage());  // accumulated in place

  x.set_grad(Tensor());
  sum(x * 5.0).backward();
  check_values(x.grad(), {5.0, 5.0, 5.0});
}

TEST_CASE("autograd: the implicit root gradient 1 is reused but never written", "[autograd]") {
  // A one-element leaf as the root: its first gradient is the implicit 1 itself, which
  // AccumulateGrad must copy (the engine reuses that constant for every later backward).
  Tensor x = from_vector(std::vector<double>{3.0}, Shape{}).set_requires_grad(true);
  x.backward();
  x.backward();
  check_values(x.grad(), {2.0});
  Tensor ones = from_vector(std::vector<double>{1.0}, Shape{1});
  ones.set_requires_grad(true);
  (ones * 1.0).backward();
  (ones * 1.0).backward();
  check_values(ones.grad(), {2.0});
  // Later roots of the same device, dtype and shape still start from 1.
  Tensor w = leaf({1.0, 2.0});
  sum(w * 3.0).backward();
  check_values(w.grad(), {3.0, 3.0});
  Tensor y = from_vector(std::vector<double>{5.0}, Shape{}).set_requires_grad(true);
  (y * y).backward();
  check_values(y.grad(), {10.0});
}

TEST_CASE("autograd: grad hooks fire once per leaf with the final gradient", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  Tensor w = leaf({3.0, -1.0});
  int x_calls = 0, w_calls = 0;
  std::vector<double> x_seen;
  x.register_grad_hook([&](const Tensor& l) {
    ++x_calls;
    x_seen = l.grad().to_vector<double>();
  });
  w.register_grad_hook([&](const Tensor&) { ++w_calls; });
  // x reaches the loss through three paths; its hook must see the sum of all of them.
  Tensor y = x * w + x * x + exp(x);
  sum(y).backward();
  CHECK(x_calls == 1);
  CHECK(w_calls == 1);
  REQUIRE(x_seen.size() == 2);
  CHECK(x_seen[0] == Approx(3.0 + 2.0 + std::exp(1.0)));
  CHECK(x_seen[1] == Approx(-1.0 + 4.0 + std::exp(2.0)));

  sum(x * 1.0).backward();
  CHECK(x_calls == 2);
  CHECK(w_calls == 1);  // w is not in the second graph

  Tensor not_leaf = x * 2.0;
  CHECK_THROWS_AS(not_leaf.register_grad_hook([](const Tensor&) {}), Error);
}

TEST_CASE("autograd: queue_callback runs once backward has computed every gradient", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  Tensor w = leaf({3.0, -1.0});
  std::vector<std::string> events;
  x.register_grad_hook([&](const Tensor&) {
    events.push_back("x hook");
    autograd::queue_callback([&] {
      // Every leaf's gradient is final here, w's included though its hook ran after x's.
      events.push_back("callback, w grad " + std::to_string(w.grad().defined()));
      autograd::queue_callback([&] { events.push_back("queued by a callback"); });
    });
  });
  w.register_grad_hook([&](const Tensor&) { events.push_back("w hook"); });
  sum(x * w).backward();
  REQUIRE(events.size() == 4);
  CHECK(events[2] == "callback, w grad 1");
  CHECK(events[3] == "queued by a callback");
  // Nothing is left queued for the next backward, and outside a backward there is no queue.
  events.clear();
  sum(w * 2.0).backward();
  CHECK(events == std::vector<std::string>{"w hook"});
  CHECK_THROWS_WITH(autograd::queue_callback([] {}), Catch::Contains("outside a backward pass"));
  // A callback that throws makes backward throw.
  Tensor y = leaf({1.0});
  y.register_grad_hook([](const Tensor&) { autograd::queue_callback([] { throw Error("from the callback"); }); });
  CHECK_THROWS_WITH(sum(y * 3.0).backward(), Catch::Contains("from the callback"));
}

namespace {
// y = 2 x whose backward scales its incoming gradient in place: allowed of a custom node, and
// it must not change the gradient of later, unrelated backward passes.
class ScaleInPlaceBackward : public autograd::Node {
 public:
  std::string name() const override { return "ScaleInPlaceBackward"; }
  TensorList apply(TensorList&& grads) override { return {grads[0].mul_(2.0)}; }
};
}  // namespace

TEST_CASE("autograd: a node writing its incoming gradient in place does not leak into later backward passes",
          "[autograd]") {
  Tensor x = from_vector(std::vector<double>{1.5}, Shape{}).set_requires_grad(true);
  for (int i = 0; i < 3; ++i) {
    Tensor y = autograd::record(std::make_shared<ScaleInPlaceBackward>(), {x}, x.detach() * 2.0);
    x.set_grad(Tensor());
    y.backward();
    CHECK(x.grad().item() == 2.0);
  }
  Tensor w = from_vector(std::vector<double>{4.0}, Shape{}).set_requires_grad(true);
  (w * 3.0).backward();  // a scalar root of the same shape and dtype: seeded with 1
  CHECK(w.grad().item() == 3.0);
}

TEST_CASE("autograd: expand to the same shape is a new view, the input stays a leaf", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  Tensor y = x.expand({2});
  CHECK(x.is_leaf());
  CHECK(!y.is_same(x));
  sum(y * y).backward();
  check_values(x.grad(), {2.0, 4.0});
}

TEST_CASE("autograd: a second backward through a freed graph fails", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  Tensor loss = sum(x * x);
  loss.backward();
  try {
    loss.backward();
    FAIL("expected an error on the second backward");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.find("second time") != std::string::npos);
    CHECK(what.find("retain_graph") != std::string::npos);
  }
}

TEST_CASE("autograd: retain_graph allows a second backward", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  Tensor loss = sum(exp(x) * x);
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  check_values(x.grad(), {2 * (std::exp(1.0) + std::exp(1.0)), 2 * (std::exp(2.0) + 2 * std::exp(2.0))}, 1e-9);
}

TEST_CASE("autograd: backward from a non-scalar", "[autograd]") {
  Tensor x = leaf({1.0, 2.0, 3.0});
  Tensor y = x * x;
  try {
    y.backward();
    FAIL("expected an error without an explicit gradient");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("explicit gradient") != std::string::npos);
  }
  y.backward(from_vector<double>({1.0, 0.5, -1.0}, {3}));
  check_values(x.grad(), {2.0, 2.0, -6.0});

  Tensor z = x * 2.0;
  CHECK_THROWS_AS(z.backward(ones({2}, kFloat64)), Error);  // wrong shape

  Tensor constant = ones({1}, kFloat64);
  CHECK_THROWS_AS(constant.backward(), Error);  // nothing requires grad

  // A one-element non-scalar needs no explicit gradient.
  Tensor w = leaf({4.0});
  (w * w).backward();
  check_values(w.grad(), {8.0});
}

TEST_CASE("autograd: detach cuts the graph but shares storage", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  Tensor y = x * 3.0;
  Tensor d = y.detach();
  CHECK(d.storage() == y.storage());
  CHECK_FALSE(d.requires_grad());
  CHECK(d.grad_fn() == nullptr);
  CHECK(d.is_leaf());
  // Gradient flows only through the attached path: d(y*d)/dx = 3*d with d held constant.
  sum(y * d).backward();
  check_values(x.grad(), {9.0, 18.0});
}

TEST_CASE("autograd: gradients flow through views", "[autograd]") {
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}).set_requires_grad(true);
  Tensor y = x.t().narrow(0, 1, 2).reshape({4});  // elements 2, 5, 3, 6
  y.backward(from_vector<double>({1, 10, 100, 1000}, {4}));
  check_values(x.grad(), {0, 1, 100, 0, 10, 1000});
}

TEST_CASE("autograd: a gradient of the wrong shape is reported", "[autograd]") {
  Tensor x = leaf({1.0, 2.0});
  CHECK_THROWS_AS(x.set_grad(ones({3}, kFloat64)), Error);
  CHECK_THROWS_AS(x.set_grad(ones({2}, kFloat32)), Error);
  CHECK_THROWS_AS(autograd::backward({x * 2.0}, {}), Error);  // roots and gradients differ in count
}

TEST_CASE("autograd: an explicit root gradient of another dtype is converted, as PyTorch", "[autograd]") {
  Tensor w = from_vector<float>({1.0f, 2.0f}, {2}).set_requires_grad(true);
  (w * 2.0).backward(ones({2}, kFloat64));
  REQUIRE(w.grad().dtype() == kFloat32);
  (w * 2.0).backward(from_vector<int64_t>({1, 1}, {2}));
  CHECK(w.grad().dtype() == kFloat32);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{4.0f, 4.0f});
}

TEST_CASE("autograd: dtype conversions send the gradient back in the input's dtype", "[autograd]") {
  Tensor x = from_vector<float>({1.0f, 2.0f}, {2}).set_requires_grad(true);
  Tensor y = x.to(kFloat64) * 3.0;
  CHECK(y.dtype() == kFloat64);
  y.backward(ones_like(y));
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == kFloat32);
  CHECK(x.grad().to_vector<float>() == std::vector<float>{3.0f, 3.0f});
}

TEST_CASE("autograd: an in-place write to a saved tensor fails backward", "[autograd]") {
  // Each write changes values a backward function saved; PyTorch refuses all three, and so must
  // Ember rather than return a gradient computed from the new values.
  SECTION("an input of a product, written after the forward") {
    Tensor a = leaf({1.0, 2.0, 3.0});
    Tensor b = from_vector<double>({10, 20, 30}, {3});
    Tensor y = sum(a * b);
    b.add_(ones({3}, kFloat64));
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("mulBackward: one of the tensors saved for backward") &&
                                        Catch::Contains("modified by an in-place operation") &&
                                        Catch::Contains("at version 1, it was saved at version 0"));
  }
  SECTION("a leaf written through a detached alias") {
    Tensor c = leaf({1.0, 2.0, 3.0});
    Tensor y = sum(c * c);
    c.detach().mul_(100.0);
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("modified by an in-place operation"));
  }
  SECTION("a saved output, written under no_grad") {
    Tensor d = leaf({0.0, 1.0});
    Tensor y = exp(d);
    Tensor loss = sum(y);
    {
      NoGradGuard no_grad;
      y.mul_(0.0);
    }
    CHECK_THROWS_WITH(loss.backward(), Catch::Contains("expBackward"));
  }
  SECTION("a view of the saved tensor's storage") {
    Tensor w = from_vector<double>({1, 2, 3, 4}, {2, 2});
    Tensor x = leaf({1.0, 1.0});
    Tensor y = sum(matmul(x.unsqueeze(0), w));
    w.select(0, 1).fill_(0.0);
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("MatmulBackward"));
  }
  SECTION("the second backward of a retained graph") {
    Tensor a = leaf({1.0, 2.0});
    Tensor b = from_vector<double>({3, 4}, {2});
    Tensor y = sum(a * b);
    y.backward(Tensor(), /*retain_graph=*/true);
    check_values(a.grad(), {3.0, 4.0});
    b.copy_(from_vector<double>({5, 6}, {2}));
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("modified by an in-place operation"));
  }
}

TEST_CASE("autograd: in-place writes that backward does not depend on are allowed", "[autograd]") {
  // Addition saves nothing, so writing its input changes no gradient.
  Tensor a = leaf({1.0, 2.0});
  Tensor b = from_vector<double>({3, 4}, {2});
  Tensor y = sum(a + b);
  b.mul_(2.0);
  CHECK_NOTHROW(y.backward());
  check_values(a.grad(), {1.0, 1.0});
  // Writes after backward (an optimizer step) do not affect the next forward's graph.
  Tensor w = leaf({1.0, 2.0});
  Tensor z = sum(w * w);
  z.backward();
  {
    NoGradGuard no_grad;
    w.add_(w.grad(), -0.5);
  }
  Tensor z2 = sum(w * w);
  const uint64_t version = w.version();
  CHECK(version > 0);
  CHECK(w.detach().version() == version);  // views and detached aliases share the counter
  CHECK_NOTHROW(z2.backward());
}
