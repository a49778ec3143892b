// Gradchecks of the elementwise and view ops (float64, CPU, central differences) and the checks
// every op makes on devices, dtypes and shapes.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>

#include "support/test_support.h"

using namespace ember;
using testing::gradcheck;
using testing::random_tensor;

namespace {

// A leaf of the given shape, uniform in [low, high).
Tensor input(const Shape& sizes, uint64_t seed, double low = -1.0, double high = 1.0) {
  return random_tensor(sizes, seed, low, high).set_requires_grad(true);
}

// A non-contiguous leaf of logical shape `sizes`: the transpose of a contiguous tensor.
Tensor transposed_input(const Shape& sizes, uint64_t seed, double low = -1.0, double high = 1.0) {
  Shape swapped = sizes;
  std::swap(swapped[0], swapped[1]);
  Tensor base = random_tensor(swapped, seed, low, high).transpose(0, 1);
  REQUIRE_FALSE(base.is_contiguous());
  return base.set_requires_grad(true);
}

// A non-contiguous leaf: every second column of a wider tensor.
Tensor strided_input(const Shape& sizes, uint64_t seed, double low = -1.0, double high = 1.0) {
  Shape wide = sizes;
  wide.back() *= 2;
  Tensor base = random_tensor(wide, seed, low, high).slice(-1, 0, wide.back(), 2);
  REQUIRE_FALSE(base.is_contiguous());
  return base.set_requires_grad(true);
}

// Random shape of `dims` dims with sizes in [1, 5], from a seeded generator.
Shape random_shape(int dims, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> s = randint(1, 6, {dims}, kInt64, &g).to_vector<int64_t>();
  return Shape(s.begin(), s.end());
}

void require_gradcheck(const testing::TensorFn& fn, const TensorList& inputs) {
  std::string why = gradcheck(fn, inputs);
  INFO(why);
  CHECK(why.empty());
}

using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

}  // namespace

TEST_CASE("gradcheck: add, sub, mul, div", "[ops]") {
  std::vector<std::pair<const char*, Binary>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
  };
  for (auto& [name, op] : ops) {
    auto fn = [op = op](const TensorList& in) { return op(in[0], in[1]); };
    // b stays in [0.5, 1.5] so that div is smooth.
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      Shape shape = random_shape(3, seed);
      INFO(name << " same shape " << shape_str(shape));
      require_gradcheck(fn, {input(shape, seed), input(shape, seed + 100, 0.5, 1.5)});
    }
    INFO(name << " broadcasting");
    require_gradcheck(fn, {input({2, 3, 4}, 7), input({3, 1}, 8, 0.5, 1.5)});  // rank and size-1 broadcast
    require_gradcheck(fn, {input({1, 4}, 9), input({3, 1}, 10, 0.5, 1.5)});    // both sides broadcast
    require_gradcheck(fn, {input({}, 11), input({2, 2}, 12, 0.5, 1.5)});       // 0-dim
    INFO(name << " non-contiguous");
    require_gradcheck(fn, {transposed_input({3, 4}, 13), strided_input({3, 4}, 14, 0.5, 1.5)});
    // A stride-0 (expanded) leaf is non-contiguous too.
    Tensor expanded = random_tensor({3}, 16, 0.5, 1.5).expand({2, 3}).set_requires_grad(true);
    require_gradcheck(fn, {strided_input({2, 3}, 15), expanded});
  }
}

TEST_CASE("gradcheck: gradient only for the input that needs it", "[ops]") {
  Tensor a = input({3, 2}, 21);
  Tensor b = random_tensor({3, 2}, 22, 0.5, 1.5);  // no grad
  require_gradcheck([](const TensorList& in) { return div(in[0], in[1]); }, {a, b});
  CHECK_FALSE(b.grad().defined());
  Tensor c = random_tensor({2}, 23);
  Tensor d = input({2}, 24, 0.5, 1.5);
  require_gradcheck([](const TensorList& in) { return div(in[0], in[1]); }, {c, d});
}

TEST_CASE("gradcheck: unary ops", "[ops]") {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    double low, high;  // a domain where the op is smooth
  };
  std::vector<Case> cases = {
      {"neg", [](const Tensor& x) { return neg(x); }, -2, 2},
      {"exp", [](const Tensor& x) { return exp(x); }, -2, 2},
      {"log", [](const Tensor& x) { return log(x); }, 0.5, 3},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.5, 3},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, -2, 2},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, 0.5, 2},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, 0.5, 2},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -4, 4},
      {"tanh", [](const Tensor& x) { return tanh(x); }, -2, 2},
      {"add scalar", [](const Tensor& x) { return add(x, 2.5); }, -2, 2},
      {"mul scalar", [](const Tensor& x) { return mul(x, -1.75); }, -2, 2},
      {"operators", [](const Tensor& x) { return (2.0 * x - 1.0) / 4.0 + 3.0; }, -2, 2},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto fn = [op = c.op](const TensorList& in) { return op(in[0]); };
    require_gradcheck(fn, {input(random_shape(3, 31), 32, c.low, c.high)});
    require_gradcheck(fn, {transposed_input({4, 3}, 33, c.low, c.high)});
    require_gradcheck(fn, {strided_input({2, 5}, 34, c.low, c.high)});
  }
}

namespace {
// n values of random sign and magnitude in [0.1, 1] (seeds seed and seed + 1).
std::vector<double> away_from_zero(int64_t n, uint64_t seed) {
  std::vector<double> m = random_tensor({n}, seed, 0.1, 1.0).to_vector<double>();
  std::vector<double> s = random_tensor({n}, seed + 1, -1.0, 1.0).to_vector<double>();
  for (size_t i = 0; i < m.size(); ++i) m[i] *= s[i] < 0 ? -1.0 : 1.0;
  return m;
}
}  // namespace

TEST_CASE("gradcheck: relu away from its kink", "[ops]") {
  // Values in +-[0.1, 1]: central differences with eps 1e-6 never straddle 0.
  const std::vector<double> m = away_from_zero(20, 41);
  Tensor x = from_vector(m, {4, 5}).set_requires_grad(true);
  auto fn = [](const TensorList& in) { return relu(in[0]); };
  require_gradcheck(fn, {x});
  Tensor xt = from_vector(m, {5, 4}).transpose(0, 1).set_requires_grad(true);
  require_gradcheck(fn, {xt});
  // The gradient is exactly 0 or 1 times the incoming one.
  x.set_grad(Tensor());
  Tensor y = relu(x);
  y.backward(ones_like(y));
  std::vector<double> g = x.grad().to_vector<double>();
  for (size_t i = 0; i < m.size(); ++i) CHECK(g[i] == (m[i] > 0 ? 1.0 : 0.0));
}

TEST_CASE("abs and clamp: values, NaN, gradcheck away from the kinks, the gradient at a bound, as torch", "[ops]") {
  // Values in +-[0.1, 1]: central differences with eps 1e-6 never straddle 0 or a bound at +-0.05
  // or +-1.05.
  const std::vector<double> m = away_from_zero(20, 43);
  Tensor x = from_vector(m, {4, 5}).set_requires_grad(true);
  Tensor xt = from_vector(m, {5, 4}).transpose(0, 1).set_requires_grad(true);
  std::vector<std::function<Tensor(const Tensor&)>> ops = {
      [](const Tensor& t) { return abs(t); },
      [](const Tensor& t) { return clamp_min(t, 0.05); },
      [](const Tensor& t) { return clamp_max(t, -0.05); },
      [](const Tensor& t) { return t.clamp(-0.55, 0.45); },
  };
  for (size_t k = 0; k < ops.size(); ++k) {
    INFO("op " << k);
    auto fn = [op = ops[k]](const TensorList& in) { return op(in[0]); };
    require_gradcheck(fn, {x});
    require_gradcheck(fn, {xt});
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor v = from_vector<double>({-2.0, -0.5, 0.0, 0.5, 2.0, nan}, {6}).set_requires_grad(true);
  std::vector<double> a = abs(v).to_vector<double>(), c = clamp(v, -0.5, 1.0).to_vector<double>();
  CHECK(std::vector<double>(a.begin(), a.end() - 1) == std::vector<double>{2.0, 0.5, 0.0, 0.5, 2.0});
  CHECK(std::vector<double>(c.begin(), c.end() - 1) == std::vector<double>{-0.5, -0.5, 0.0, 0.5, 1.0});
  CHECK(std::isnan(a.back()));
  CHECK(!std::signbit(abs(from_vector<double>({-0.0}, {1})).item()));  // +0, as torch.abs
  CHECK(std::isnan(c.back()));
  // torch: d|x|/dx = 0 at 0; a clamp passes the gradient at its bound (-0.5 here) and inside.
  sum(abs(v)).backward();
  std::vector<double> ga = v.grad().to_vector<double>();
  CHECK(std::vector<double>(ga.begin(), ga.end() - 1) == std::vector<double>{-1.0, -1.0, 0.0, 1.0, 1.0});
  v.set_grad(Tensor());
  sum(clamp(v, -0.5, 1.0)).backward();
  std::vector<double> gc = v.grad().to_vector<double>();
  CHECK(std::vector<double>(gc.begin(), gc.end() - 1) == std::vector<double>{0.0, 1.0, 1.0, 1.0, 0.0});
  // min > max gives max everywhere, with a zero gradient (torch.clamp).
  CHECK(clamp(from_vector<double>({-1.0, 3.0}, {2}), 2.0, 1.0).to_vector<double>() == std::vector<double>{1.0, 1.0});
  CHECK_THROWS_WITH(abs(ones({2}, kInt64)), Catch::Contains("abs") && Catch::Contains("floating"));
}

TEST_CASE("pow: the gradient of x^0 is 0, also at x = 0 (PyTorch's), and x^s elsewhere", "[ops]") {
  Tensor x = from_vector<double>({0.0, 1.0, 2.0}, {3}).set_requires_grad(true);
  sum(pow(x, 0.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0.0, 0.0, 0.0});
  Tensor z = from_vector<double>({0.0, 4.0}, {2}).set_requires_grad(true);
  sum(pow(z, 0.5)).backward();
  std::vector<double> g = z.grad().to_vector<double>();
  CHECK(std::isinf(g[0]));  // as PyTorch: 0.5 * 0^-0.5
  CHECK(g[1] == Approx(0.25));
}

TEST_CASE("gradcheck: view ops", "[ops]") {
  std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> views = {
      {"view", [](const Tensor& x) { return x.view({4, -1}); }},
      {"reshape", [](const Tensor& x) { return x.reshape({3, 8}); }},
      {"flatten", [](const Tensor& x) { return x.flatten(1); }},
      {"permute", [](const Tensor& x) { return x.permute({2, 0, 1}); }},
      {"transpose", [](const Tensor& x) { return x.transpose(0, 2); }},
      {"narrow", [](const Tensor& x) { return x.narrow(2, 1, 2); }},
      {"slice step", [](const Tensor& x) { return x.slice(2, 0, 4, 3); }},
      {"select", [](const Tensor& x) { return x.select(1, -1); }},
      {"expand", [](const Tensor& x) { return x.unsqueeze(0).expand({3, 2, 3, 4}); }},
      {"unsqueeze", [](const Tensor& x) { return x.unsqueeze(-1); }},
      {"squeeze", [](const Tensor& x) { return x.narrow(0, 1, 1).squeeze(0); }},
      {"contiguous", [](const Tensor& x) { return x.transpose(0, 1).contiguous(); }},
      {"clone", [](const Tensor& x) { return x.clone(); }},
      {"chain", [](const Tensor& x) { return x.t().narrow(0, 1, 2).reshape({-1}) * 2.0; }},
  };
  for (auto& [name, view] : views) {
    INFO(name);
    auto fn = [view = view](const TensorList& in) { return view(in[0]); };
    if (std::string(name) == "chain") {
      require_gradcheck(fn, {input({3, 4}, 51)});
      continue;
    }
    require_gradcheck(fn, {input({2, 3, 4}, 52)});
    if (std::string(name) != "view") {  // view needs a viewable input
      Tensor non_contiguous = random_tensor({4, 3, 2}, 53).permute({2, 1, 0}).set_requires_grad(true);
      require_gradcheck(fn, {non_contiguous});
    }
  }
  // Broadcasting through expand of a size-1 dim sums the gradient back.
  require_gradcheck([](const TensorList& in) { return in[0].expand({3, 4}) * in[1]; },
                    {input({3, 1}, 54), input({3, 4}, 55)});
}

TEST_CASE("ops: device, dtype and shape mismatches are reported", "[ops]") {
  Tensor a = ones({2, 3}, kFloat64);
  Tensor b32 = ones({2, 3}, kFloat32);
  Tensor bad_shape = ones({4}, kFloat64);
  auto message_of = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };

  std::string dtype_msg = message_of([&] { add(a, b32); });
  CHECK(dtype_msg.find("add") != std::string::npos);
  CHECK(dtype_msg.find("float64") != std::string::npos);
  CHECK(dtype_msg.find("float32") != std::string::npos);

  std::string shape_msg = message_of([&] { mul(a, bad_shape); });
  CHECK(shape_msg.find("mul") != std::string::npos);
  CHECK(shape_msg.find("[2, 3]") != std::string::npos);
  CHECK(shape_msg.find("[4]") != std::string::npos);

  std::string int_msg = message_of([&] { exp(ones({2}, kInt64)); });
  CHECK(int_msg.find("exp") != std::string::npos);
  CHECK(int_msg.find("int64") != std::string::npos);

  CHECK_THROWS_AS(sub(a, ones({3, 2}, kFloat64)), Error);
  CHECK_THROWS_AS(div(ones({2}, kInt64), ones({2}, kInt64)), Error);

  if (!cuda::is_available()) {
    // Without a device a CUDA operand cannot even be made; the device check is in tests/cuda.
    CHECK_THROWS_AS(add(a, ones({2, 3}, TensorOptions(kFloat64).with_device(cuda_device(0)))), Error);
  } else {
    Tensor on_gpu = ones({2, 3}, TensorOptions(kFloat64).with_device(cuda_device(0)));
    std::string device_msg = message_of([&] { add(a, on_gpu); });
    CHECK(device_msg.find("cpu") != std::string::npos);
    CHECK(device_msg.find("cuda:0") != std::string::npos);
  }
}

TEST_CASE("ops: forward values of the elementwise ops", "[ops]") {
  Tensor x = from_vector<double>({0.5, 1.0, 2.0}, {3});
  Tensor y = from_vector<double>({2.0, 4.0, 8.0}, {3});
  CHECK((x + y).to_vector<double>() == std::vector<double>{2.5, 5.0, 10.0});
  CHECK((x - y).to_vector<double>() == std::vector<double>{-1.5, -3.0, -6.0});
  CHECK((x * y).to_vector<double>() == std::vector<double>{1.0, 4.0, 16.0});
  CHECK((x / y).to_vector<double>() == std::vector<double>{0.25, 0.25, 0.25});
  CHECK((-x).to_vector<double>() == std::vector<double>{-0.5, -1.0, -2.0});
  CHECK(sqrt(y * 2.0).to_vector<double>() == std::vector<double>{2.0, std::sqrt(8.0), 4.0});
  CHECK(pow(y, 2.0).to_vector<double>() == std::vector<double>{4.0, 16.0, 64.0});
  CHECK(relu(x - 1.0).to_vector<double>() == std::vector<double>{0.0, 0.0, 1.0});
  // sigmoid stays finite and exact at the extremes.
  std::vector<double> s = sigmoid(from_vector<double>({-1000, 0, 1000}, {3})).to_vector<double>();
  CHECK(s == std::vector<double>{0.0, 0.5, 1.0});
  CHECK(eq(x, from_vector<double>({0.5, 0.0, 2.0}, {3})).to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1});
  Tensor row = from_vector<double>({1, 2, 3}, {1, 3});
  Tensor col = from_vector<double>({10, 20}, {2, 1});
  CHECK((row + col).to_vector<double>() == std::vector<double>{11, 12, 13, 21, 22, 23});
}

TEST_CASE("ops: libtorch spellings (methods, scalar-left and compound operators)", "[ops]") {
  Tensor x = from_vector<double>({1.0, 2.0, 4.0}, {3});
  CHECK((1.0 - x).to_vector<double>() == std::vector<double>{0.0, -1.0, -3.0});
  CHECK((2.0 / x).to_vector<double>() == std::vector<double>{2.0, 1.0, 0.5});
  CHECK(x.exp().to_vector<double>() == exp(x).to_vector<double>());
  CHECK(x.log().to_vector<double>() == log(x).to_vector<double>());
  CHECK(x.pow(2.0).to_vector<double>() == std::vector<double>{1.0, 4.0, 16.0});
  CHECK((-x).relu().to_vector<double>() == std::vector<double>{0.0, 0.0, 0.0});
  CHECK(x.view({1, 3}).matmul(x.view({3, 1})).item() == 21.0);
  CHECK(from_vector<double>({1, 5, 2, 7, 0, 3}, {2, 3}).argmax(1).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(zeros({1, 3, 1, 2}).squeeze().sizes() == Shape{3, 2});
  CHECK(x.view_as(zeros({3, 1})).sizes() == Shape{3, 1});
  Tensor y = x.clone();
  y += x;
  y -= 1.0;
  y *= 2.0;
  y /= 4.0;
  y += 1.0;
  y -= ones({3}, kFloat64);
  CHECK(y.to_vector<double>() == std::vector<double>{0.5, 1.5, 3.5});
  // Division by a scalar divides (x * (1 / s) would be 1 ulp off for about a third of values).
  Tensor v = random_tensor({1000}, 77, -10, 10).to(kFloat32);
  std::vector<float> expected = v.to_vector<float>();
  for (float& e : expected) e = e / 3.0f;
  CHECK((v / 3.0).to_vector<float>() == expected);
  v /= 3.0;
  CHECK(v.to_vector<float>() == expected);
  CHECK((scalar_tensor(49.0, kFloat64) / 49.0).item() == 1.0);
  // Scalar-left forms differentiate like their spelled-out equivalents.
  Tensor w = from_vector<double>({0.5, 2.0}, {2}).requires_grad_();
  require_gradcheck([](const TensorList& in) { return 3.0 / in[0] + (1.0 - in[0]); }, {w});
}

TEST_CASE("mse_loss: values, reductions, gradient and shape check", "[ops]") {
  Tensor input = from_vector<double>({1.0, 2.0, 3.0, 4.0}, {2, 2}).requires_grad_();
  Tensor target = from_vector<double>({0.0, 2.0, 5.0, 3.0}, {2, 2});
  CHECK(mse_loss(input, target).item() == Approx((1.0 + 0.0 + 4.0 + 1.0) / 4));
  CHECK(mse_loss(input, target, Reduction::Sum).item() == Approx(6.0));
  CHECK(mse_loss(input, target, Reduction::None).to_vector<double>() == std::vector<double>{1, 0, 4, 1});
  CHECK(nn::MSELoss()(input, target).item() == Approx(1.5));
  mse_loss(input, target).backward();
  // d/dx mean((x - t)^2) = 2 (x - t) / 4
  CHECK(input.grad().to_vector<double>() == std::vector<double>{0.5, 0.0, -1.0, 0.5});
  require_gradcheck([&](const TensorList& in) { return mse_loss(in[0], target); }, {input});
  CHECK_THROWS_WITH(mse_loss(input, zeros({4}, kFloat64)), Catch::Contains("mse_loss: input Tensor[2, 2]"));
  CHECK_THROWS_WITH(mse_loss(input, zeros({2, 2})), Catch::Contains("mse_loss"));
}
