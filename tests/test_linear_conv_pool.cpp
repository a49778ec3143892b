// matmul, linear, conv2d, max_pool2d and the fused ops on the CPU: forward against naive loops
// written here, backward by finite differences (testing::gradcheck, float64), and the errors.
#include <catch2/catch.hpp>

#include <ember/ember.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/gemm.h>
#include <ember/kernels/pool.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "support/test_support.h"

using namespace ember;
using testing::gradcheck;
using testing::random_tensor;
using testing::distinct_tensor;

namespace {

Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

std::string expect_close(const Tensor& actual, const Tensor& expected, double tol = 1e-10) {
  std::string why;
  return testing::all_close(actual, expected, tol, tol, &why) ? "" : why;
}

// y[n,k,p,q] = b[k] + sum_{c,r,s} x[n,c,p*sh-ph+r*dh, q*sw-pw+s*dw] * w[k,c,r,s]
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& cp) {
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>();
  int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.size(0), R = w.size(2), S = w.size(3);
  int64_t P = (H + 2 * cp.padding[0] - cp.dilation[0] * (R - 1) - 1) / cp.stride[0] + 1;
  int64_t Q = (W + 2 * cp.padding[1] - cp.dilation[1] * (S - 1) - 1) / cp.stride[1] + 1;
  std::vector<double> y(N * K * P * Q);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = bv.empty() ? 0.0 : bv[k];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s) {
                int64_t h = p * cp.stride[0] - cp.padding[0] + r * cp.dilation[0];
                int64_t ww = q * cp.stride[1] - cp.padding[1] + s * cp.dilation[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                acc += xv[((n * C + c) * H + h) * W + ww] * wv[((k * C + c) * R + r) * S + s];
              }
          y[((n * K + k) * P + p) * Q + q] = acc;
        }
  return from_vector(y, {N, K, P, Q});
}

// y = max over each window (padding is -inf).
Tensor naive_max_pool2d(const Tensor& x, std::array<int64_t, 2> k, std::array<int64_t, 2> st,
                        std::array<int64_t, 2> pad) {
  auto xv = x.to_vector<double>();
  int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  int64_t P = (H + 2 * pad[0] - k[0]) / st[0] + 1, Q = (W + 2 * pad[1] - k[1]) / st[1] + 1;
  std::vector<double> y(N * C * P * Q);
  for (int64_t plane = 0; plane < N * C; ++plane)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        double best = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < k[0]; ++i)
          for (int64_t j = 0; j < k[1]; ++j) {
            int64_t h = p * st[0] - pad[0] + i, w = q * st[1] - pad[1] + j;
            if (h >= 0 && h < H && w >= 0 && w < W) best = std::max(best, xv[(plane * H + h) * W + w]);
          }
        y[(plane * P + p) * Q + q] = best;
      }
  return from_vector(y, {N, C, P, Q});
}

}  // namespace

// ---- matmul / linear ----------------------------------------------------------------------

TEST_CASE("matmul forward matches a naive product", "[linear]") {
  Tensor a = random_tensor({5, 7}, 1), b = random_tensor({7, 3}, 2);
  auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> expected(15, 0.0);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 7; ++k) expected[i * 3 + j] += av[i * 7 + k] * bv[k * 3 + j];
  CHECK(expect_close(matmul(a, b), from_vector(expected, {5, 3})) == "");
  // float32 goes through sgemm.
  CHECK(expect_close(matmul(a.to(kFloat32), b.to(kFloat32)).to(kFloat64), from_vector(expected, {5, 3}), 1e-5) == "");
  // Transposed views are read in place and give the same result as contiguous copies.
  Tensor at = random_tensor({7, 5}, 3).t(), bt = random_tensor({3, 7}, 4).t();
  CHECK(expect_close(matmul(at, bt), matmul(at.contiguous(), bt.contiguous())) == "");
}

TEST_CASE("matmul gradcheck, 2-d and batched, contiguous and not", "[linear]") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> dim(1, 6);
  for (int trial = 0; trial < 4; ++trial) {
    int64_t n = dim(rng), k = dim(rng), m = dim(rng), batch = dim(rng) % 3 + 1;
    INFO("trial " << trial << ": n " << n << " k " << k << " m " << m << " batch " << batch);
    Tensor a = leaf(random_tensor({n, k}, 10 + trial)), b = leaf(random_tensor({k, m}, 20 + trial));
    CHECK(gradcheck([](const TensorList& in) { return matmul(in[0], in[1]); }, {a, b}) == "");
    // Non-contiguous: transposed operands and a strided slice.
    Tensor at = leaf(random_tensor({k, n}, 30 + trial)), bw = leaf(random_tensor({k, 2 * m}, 40 + trial));
    CHECK(gradcheck([](const TensorList& in) { return matmul(in[0].t(), in[1].slice(1, 0, in[1].size(1), 2)); },
                    {at, bw}) == "");
    Tensor ba = leaf(random_tensor({batch, n, k}, 50 + trial)), bb = leaf(random_tensor({batch, m, k}, 60 + trial));
    CHECK(gradcheck([](const TensorList& in) { return matmul(in[0], in[1].transpose(1, 2)); }, {ba, bb}) == "");
  }
}

TEST_CASE("linear forward and gradcheck, with and without bias", "[linear]") {
  Tensor x = leaf(random_tensor({4, 6}, 1)), w = leaf(random_tensor({3, 6}, 2)), b = leaf(random_tensor({3}, 3));
  Tensor expected = add(matmul(x.detach(), w.detach().t()), b.detach());
  CHECK(expect_close(linear(x, w, b), expected) == "");
  CHECK(expect_close(linear(x, w), matmul(x.detach(), w.detach().t())) == "");
  CHECK(gradcheck([](const TensorList& in) { return linear(in[0], in[1], in[2]); }, {x, w, b}) == "");
  CHECK(gradcheck([](const TensorList& in) { return linear(in[0], in[1]); }, {x, w}) == "");
  // A non-contiguous input (transposed) and weight (strided slice).
  Tensor xt = leaf(random_tensor({6, 5}, 4)), w2 = leaf(random_tensor({6, 6}, 5));
  CHECK(gradcheck([](const TensorList& in) { return linear(in[0].t(), in[1].slice(0, 0, 6, 2), in[2]); },
                  {xt, w2, b}) == "");
  // Only the bias needs a gradient.
  Tensor xc = random_tensor({4, 6}, 6), wc = random_tensor({3, 6}, 7);
  CHECK(gradcheck([&](const TensorList& in) { return linear(xc, wc, in[0]); }, {b}) == "");
}

// What LinearBackward runs for dW and db together (one cuBLASLt call on the GPU): on the CPU the
// GEMM and the reduce kernel of sum, so results are exactly those of matmul and sum.
TEST_CASE("gemm_bias_grad equals matmul and the row sums, bit for bit where sum takes the same path", "[linear]") {
  auto run = [](const Tensor& a, const Tensor& b) {
    Tensor c = empty({a.size(0), b.size(1)}, kFloat64), bias_grad = empty({a.size(0)}, kFloat64);
    kernels::cpu::gemm_bias_grad(a, b, c, bias_grad);
    return std::make_pair(c, bias_grad);
  };
  const Tensor g = random_tensor({7, 5}, 41), x = random_tensor({7, 3}, 42);
  {  // a = g^T, as LinearBackward passes it: the bias gradient is sum(g, {0}) itself
    const auto [c, bias_grad] = run(g.t(), x);
    CHECK(expect_close(c, matmul(g.t(), x), 0.0) == "");
    CHECK(expect_close(bias_grad, sum(g, {0}), 0.0) == "");
  }
  {  // a row-major a: the sums of its rows
    const Tensor a = random_tensor({5, 7}, 43);
    const auto [c, bias_grad] = run(a, x);
    CHECK(expect_close(c, matmul(a, x), 0.0) == "");
    CHECK(expect_close(bias_grad, sum(a, {1}), 0.0) == "");
  }
  {  // a transposed view with a leading dimension above M (a column slice of a wider g)
    const Tensor wide = random_tensor({7, 8}, 44), sliced = wide.slice(1, 1, 6);
    const auto [c, bias_grad] = run(sliced.t(), x);
    CHECK(expect_close(c, matmul(sliced.t(), x), 0.0) == "");
    CHECK(expect_close(bias_grad, sum(sliced, {0}), 1e-14) == "");
  }
  {  // K = 0: zeros; N = 0: no GEMM, still the row sums
    const auto [c, bias_grad] = run(random_tensor({0, 4}, 45).t(), random_tensor({0, 3}, 46));
    CHECK(expect_close(c, zeros({4, 3}, kFloat64), 0.0) == "");
    CHECK(expect_close(bias_grad, zeros({4}, kFloat64), 0.0) == "");
    const auto [c0, bias_grad0] = run(g.t(), random_tensor({7, 0}, 47));
    CHECK(c0.numel() == 0);
    CHECK(expect_close(bias_grad0, sum(g, {0}), 0.0) == "");
  }
  CHECK_THROWS_WITH(kernels::cpu::gemm_bias_grad(g.t(), x, empty({5, 3}, kFloat64), empty({3}, kFloat64)),
                    Catch::Contains("gemm_bias_grad: expected"));
}

TEST_CASE("matmul with vectors and stacks, linear over leading dims: values and gradcheck, as torch", "[linear]") {
  Tensor m = random_tensor({3, 4}, 1), v3 = random_tensor({3}, 2), v4 = random_tensor({4}, 3);
  // vector @ matrix, matrix @ vector, vector @ vector against the matrix forms.
  CHECK(matmul(v3, m).sizes() == Shape{4});
  CHECK(matmul(v3, m).to_vector<double>() == matmul(v3.view({1, 3}), m).view({4}).to_vector<double>());
  CHECK(matmul(m, v4).sizes() == Shape{3});
  CHECK(matmul(m, v4).to_vector<double>() == matmul(m, v4.view({4, 1})).view({3}).to_vector<double>());
  CHECK(matmul(v4, v4).dim() == 0);
  CHECK(matmul(v4, v4).item() == Approx(sum(v4 * v4).item()));
  // A stack (2, 5, 3) @ (3, 4): each matrix of the stack times the one matrix.
  Tensor stack = random_tensor({2, 5, 3}, 4);
  Tensor product = matmul(stack, m);
  REQUIRE(product.sizes() == Shape{2, 5, 4});
  CHECK(product.select(0, 1).to_vector<double>() == matmul(stack.select(0, 1), m).to_vector<double>());
  auto grads_ok = [](const testing::TensorFn& fn, const TensorList& inputs) {
    std::string why = gradcheck(fn, inputs);
    INFO(why);
    CHECK(why.empty());
  };
  auto mm = [](const TensorList& t) { return matmul(t[0], t[1]); };
  grads_ok(mm, {leaf(v3), leaf(m)});
  grads_ok(mm, {leaf(m), leaf(v4)});
  grads_ok(mm, {leaf(v4), leaf(random_tensor({4}, 5))});
  grads_ok(mm, {leaf(stack.transpose(0, 1)), leaf(m)});  // a non-contiguous stack
  // linear over (in) and (..., in), as torch.nn.functional.linear.
  Tensor w = random_tensor({6, 4}, 6), b = random_tensor({6}, 7);
  Tensor x = random_tensor({2, 3, 4}, 8);
  Tensor y = linear(x, w, b);
  REQUIRE(y.sizes() == Shape{2, 3, 6});
  CHECK(y.select(0, 1).to_vector<double>() == linear(x.select(0, 1), w, b).to_vector<double>());
  CHECK(linear(v4, w, b).sizes() == Shape{6});
  grads_ok([](const TensorList& t) { return linear(t[0], t[1], t[2]); }, {leaf(x), leaf(w), leaf(b)});
  grads_ok([](const TensorList& t) { return linear(t[0], t[1], t[2]); }, {leaf(v4), leaf(w), leaf(b)});
  CHECK_THROWS_WITH(linear(random_tensor({2, 3, 5}, 9), w, b), Catch::Contains("linear: input has 5 features"));
  // linear_relu takes the same shapes.
  CHECK(linear_relu(x, w, b).to_vector<double>() == relu(linear(x, w, b)).to_vector<double>());
  CHECK(linear_relu(v4, w, b).sizes() == Shape{6});
  grads_ok([](const TensorList& t) { return linear_relu(t[0], t[1], t[2]); }, {leaf(x), leaf(w), leaf(b)});
}

// torch.matmul's batched forms: batch dims broadcast like elementwise ops (a matrix is a batch of
// one), each product is the matrix product of its pair, and each operand's gradient sums over the
// batch dims it was broadcast along.
TEST_CASE("matmul broadcasts batch dims as torch: values against per-matrix products, gradcheck", "[linear]") {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {{{3, 4}, {2, 4, 5}, {2, 3, 5}},            // matrix @ stack
                                   {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},   // both broadcast
                                   {{1, 3, 4}, {2, 4, 5}, {2, 3, 5}},         // batch of one
                                   {{4}, {2, 4, 5}, {2, 5}},                  // vector @ stack
                                   {{2, 3, 4}, {4}, {2, 3}},                  // stack @ vector
                                   {{2, 3, 3, 4}, {2, 3, 4, 2}, {2, 3, 3, 2}}};  // two 4-d stacks
  uint64_t seed = 10;
  for (const Case& c : cases) {
    INFO(shape_str(c.a) << " @ " << shape_str(c.b));
    Tensor a = random_tensor(c.a, seed++), b = random_tensor(c.b, seed++);
    Tensor out = matmul(a, b);
    REQUIRE(out.sizes() == c.out);
    // Each output matrix against the 2-d product of the operands' broadcast matrices.
    const Shape batch(c.out.begin(), c.out.end() - (c.a.size() == 1 || c.b.size() == 1 ? 1 : 2));
    const Tensor a_mat = c.a.size() == 1 ? a.view({1, c.a[0]}) : a;
    const Tensor b_mat = c.b.size() == 1 ? b.view({c.b[0], 1}) : b;
    Shape a_full = batch, b_full = batch;
    for (int64_t d : {a_mat.size(-2), a_mat.size(-1)}) a_full.push_back(d);
    for (int64_t d : {b_mat.size(-2), b_mat.size(-1)}) b_full.push_back(d);
    const Tensor a_all = a_mat.expand(a_full).reshape({-1, a_mat.size(-2), a_mat.size(-1)});
    const Tensor b_all = b_mat.expand(b_full).reshape({-1, b_mat.size(-2), b_mat.size(-1)});
    const Tensor out_all = out.reshape({a_all.size(0), -1});
    for (int64_t i = 0; i < a_all.size(0); ++i)
      CHECK(expect_close(out_all.select(0, i), matmul(a_all.select(0, i), b_all.select(0, i)).reshape({-1}),
                         1e-12) == "");
    std::string why = gradcheck([](const TensorList& t) { return matmul(t[0], t[1]); }, {leaf(a), leaf(b)});
    INFO(why);
    CHECK(why.empty());
  }
  // An empty batch gives an empty product and zero gradients.
  Tensor a = leaf(random_tensor({3, 4}, 1)), empty_stack = leaf(zeros({0, 4, 2}, kFloat64));
  Tensor product = matmul(a, empty_stack);
  CHECK(product.sizes() == Shape{0, 3, 2});
  sum(product).backward();
  CHECK(a.grad().sizes() == Shape{3, 4});
  CHECK(sum(a.grad() * a.grad()).item() == 0.0);
}

TEST_CASE("matmul and linear reject bad shapes, dtypes and devices", "[linear]") {
  Tensor a = random_tensor({2, 3}, 1), b = random_tensor({4, 5}, 2);
  CHECK_THROWS_WITH(matmul(a, b), Catch::Contains("matmul: inner dimensions differ") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(matmul(a, random_tensor({2, 2, 3}, 3)),
                    Catch::Contains("matmul: inner dimensions differ: [2, 3] @ [2, 2, 3]"));
  CHECK_THROWS_WITH(matmul(a, random_tensor({4}, 3)), Catch::Contains("matmul: inner dimensions differ"));
  CHECK_THROWS_WITH(matmul(random_tensor({2, 2, 3}, 1), random_tensor({4, 2}, 2)),
                    Catch::Contains("matmul: inner dimensions differ: [2, 2, 3] @ [4, 2]"));
  CHECK_THROWS_WITH(matmul(random_tensor({2, 2, 3}, 1), random_tensor({3, 3, 2}, 2)),
                    Catch::Contains("matmul (batch dims): shapes [2] and [3] cannot be broadcast together"));
  CHECK_THROWS_WITH(matmul(a, random_tensor({3, 2}, 3, -1, 1, kFloat32)), Catch::Contains("one dtype"));
  CHECK_THROWS_WITH(matmul(ones({2, 3}, kInt64), ones({3, 2}, kInt64)), Catch::Contains("floating"));
  CHECK_THROWS_WITH(linear(a, random_tensor({4, 5}, 4)), Catch::Contains("linear: input has 3 features"));
  CHECK_THROWS_WITH(linear(a, random_tensor({4, 3}, 4), random_tensor({5}, 5)),
                    Catch::Contains("linear: expected bias of shape [4]"));
}

namespace {
// The gradients of `leaves` from y.backward(g), leaving the leaves without .grad afterwards.
TensorList leaf_grads(const Tensor& y, const Tensor& g, const TensorList& leaves) {
  for (const Tensor& t : leaves) t.set_grad(Tensor());
  y.backward(g);
  TensorList grads;
  for (const Tensor& t : leaves) {
    grads.push_back(t.grad());
    t.set_grad(Tensor());
  }
  return grads;
}
}  // namespace

TEST_CASE("linear_relu equals bias_relu(linear(x, w), b) bit for bit and passes gradcheck", "[linear][fused]") {
  std::mt19937_64 rng(11);
  auto size_in = [&](int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(rng() % uint64_t(hi - lo + 1)); };
  for (int round = 0; round < 4; ++round) {
    const int64_t n = size_in(1, 6), in = size_in(1, 7), out = size_in(1, 6);
    INFO("x [" << n << ", " << in << "], weight [" << out << ", " << in << "]");
    Tensor x = leaf(distinct_tensor({n, in}, 10 + round)), w = leaf(random_tensor({out, in}, 20 + round));
    Tensor b = leaf(random_tensor({out}, 30 + round, -0.3, 0.3));
    // The CPU keeps the unfused ops' arithmetic: same values and gradients, to the last bit.
    Tensor fused = linear_relu(x, w, b), unfused = bias_relu(linear(x, w), b);
    CHECK(expect_close(fused, unfused, 0.0) == "");
    Tensor g = random_tensor({n, out}, 40 + round);
    const TensorList fused_grads = leaf_grads(fused, g, {x, w, b});
    const TensorList unfused_grads = leaf_grads(unfused, g, {x, w, b});
    for (size_t i = 0; i < 3; ++i) CHECK(expect_close(fused_grads[i], unfused_grads[i], 0.0) == "");
    CHECK(gradcheck([](const TensorList& t) { return linear_relu(t[0], t[1], t[2]); }, {x, w, b}) == "");
    // The bias without a gradient, and the bias alone with one.
    Tensor fixed_b = b.detach();
    CHECK(gradcheck([&](const TensorList& t) { return linear_relu(t[0], t[1], fixed_b); }, {x, w}) == "");
    Tensor fixed_x = x.detach(), fixed_w = w.detach();
    CHECK(gradcheck([&](const TensorList& t) { return linear_relu(fixed_x, fixed_w, t[0]); }, {b}) == "");
  }
  // The Net's fc1 shape, some outputs clamped; a transposed (non-contiguous) x.
  Tensor x = leaf(distinct_tensor({5, 32}, 50)), w = leaf(random_tensor({7, 32}, 51)), b = leaf(random_tensor({7}, 52));
  Tensor y = linear_relu(x, w, b);
  const std::vector<double> values = y.detach().to_vector<double>();
  CHECK(std::count(values.begin(), values.end(), 0.0) > 0);
  CHECK(std::count_if(values.begin(), values.end(), [](double v) { return v > 0; }) > 0);
  Tensor xt = leaf(distinct_tensor({9, 4}, 53)), w2 = leaf(random_tensor({5, 9}, 54));
  Tensor b2 = leaf(random_tensor({5}, 55, -0.3, 0.3));
  CHECK(gradcheck([](const TensorList& t) { return linear_relu(t[0].t(), t[1], t[2]); }, {xt, w2, b2}) == "");
}

TEST_CASE("matmul and linear with an empty batch: empty outputs and zero gradients, as PyTorch", "[linear]") {
  Tensor x = leaf(random_tensor({0, 3}, 1)), w = leaf(random_tensor({4, 3}, 2)), b = leaf(random_tensor({4}, 3));
  Tensor y = linear(x, w, b);
  CHECK(y.sizes() == Shape{0, 4});
  sum(y).backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>(12, 0.0));
  CHECK(b.grad().to_vector<double>() == std::vector<double>(4, 0.0));
  CHECK(x.grad().sizes() == Shape{0, 3});
  Tensor a = leaf(random_tensor({0, 4}, 4)), m = leaf(random_tensor({4, 3}, 5));
  sum(matmul(a, m)).backward();
  CHECK(m.grad().to_vector<double>() == std::vector<double>(12, 0.0));
  // An empty operand with stride-0 rows (an expanded view) has no BLAS layout to refuse.
  Tensor expanded = random_tensor({1, 3}, 6).expand({0, 3});
  CHECK(matmul(expanded, random_tensor({3, 2}, 7)).sizes() == Shape{0, 2});
  // K = 0: the empty sum.
  CHECK(matmul(random_tensor({2, 0}, 8), random_tensor({0, 3}, 9)).to_vector<double>() == std::vector<double>(6, 0.0));
}

TEST_CASE("linear_relu rejects bad arguments, an empty batch has a zero bias gradient", "[linear][fused]") {
  Tensor x = random_tensor({2, 3}, 1), w = random_tensor({4, 3}, 2);
  CHECK_THROWS_WITH(linear_relu(x, w, Tensor()), Catch::Contains("linear_relu: expected a bias of shape [4]"));
  CHECK_THROWS_WITH(linear_relu(x, w, random_tensor({5}, 3)), Catch::Contains("linear_relu: expected bias of shape [4]"));
  CHECK_THROWS_WITH(linear_relu(x, random_tensor({4, 5}, 4), random_tensor({4}, 3)),
                    Catch::Contains("linear_relu: input has 3 features"));
  CHECK_THROWS_WITH(linear_relu(x, w, random_tensor({4}, 3, -1, 1, kFloat32)), Catch::Contains("one dtype"));
  Tensor empty_x = leaf(random_tensor({0, 3}, 5)), b = leaf(random_tensor({4}, 6)), wl = leaf(w);
  Tensor y = linear_relu(empty_x, wl, b);
  CHECK(y.sizes() == Shape{0, 4});
  const TensorList grads = leaf_grads(y, ones({0, 4}, kFloat64), {empty_x, wl, b});
  CHECK(grads[0].sizes() == Shape{0, 3});
  CHECK(expect_close(grads[1], zeros({4, 3}, kFloat64), 0.0) == "");
  CHECK(expect_close(grads[2], zeros({4}, kFloat64), 0.0) == "");
}

// ---- conv2d --------------------------------------------------------------------------------

namespace {
struct ConvCase {
  Shape x, w;
  Conv2dParams params;
  bool bias;
};
Conv2dParams conv_params(int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
  Conv2dParams p;
  p.stride = {sh, sw};
  p.padding = {ph, pw};
  p.dilation = {dh, dw};
  return p;
}
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {{2, 3, 7, 6}, {4, 3, 3, 3}, conv_params(1, 1, 0, 0, 1, 1), true},
      {{1, 2, 8, 7}, {3, 2, 3, 2}, conv_params(2, 1, 1, 0, 1, 1), false},
      {{2, 2, 9, 9}, {2, 2, 3, 3}, conv_params(2, 3, 2, 1, 1, 1), true},
      {{1, 3, 9, 8}, {2, 3, 2, 3}, conv_params(1, 2, 1, 2, 2, 2), true},
      {{3, 1, 6, 6}, {2, 1, 1, 1}, conv_params(1, 1, 0, 0, 1, 1), true},
      {{2, 2, 5, 5}, {3, 2, 5, 5}, conv_params(1, 1, 2, 2, 1, 1), false},
  };
  return cases;
}
}  // namespace

TEST_CASE("conv2d forward matches naive loops (stride, padding, dilation, bias)", "[conv]") {
  int i = 0;
  for (const ConvCase& c : conv_cases()) {
    INFO("case " << i);
    Tensor x = random_tensor(c.x, 100 + i), w = random_tensor(c.w, 200 + i);
    Tensor b = c.bias ? random_tensor({c.w[0]}, 300 + i) : Tensor();
    CHECK(expect_close(conv2d(x, w, b, c.params), naive_conv2d(x, w, b, c.params)) == "");
    CHECK(expect_close(conv2d(x.to(kFloat32), w.to(kFloat32), b.defined() ? b.to(kFloat32) : Tensor(), c.params)
                           .to(kFloat64),
                       naive_conv2d(x, w, b, c.params), 1e-5) == "");
    ++i;
  }
}

TEST_CASE("conv2d forward at the MNIST Net's shapes matches naive loops", "[conv]") {
  Tensor x = random_tensor({3, 1, 28, 28}, 1), w1 = random_tensor({10, 1, 5, 5}, 2), b1 = random_tensor({10}, 3);
  Tensor y1 = conv2d(x, w1, b1);
  CHECK(y1.sizes() == Shape{3, 10, 24, 24});
  CHECK(expect_close(y1, naive_conv2d(x, w1, b1, {})) == "");
  Tensor x2 = random_tensor({3, 10, 12, 12}, 4), w2 = random_tensor({20, 10, 5, 5}, 5), b2 = random_tensor({20}, 6);
  CHECK(expect_close(conv2d(x2, w2, b2), naive_conv2d(x2, w2, b2, {})) == "");
}

TEST_CASE("conv2d gradcheck over stride/padding/dilation/bias combinations", "[conv]") {
  int i = 0;
  for (const ConvCase& c : conv_cases()) {
    INFO("case " << i);
    Tensor x = leaf(random_tensor(c.x, 100 + i)), w = leaf(random_tensor(c.w, 200 + i));
    Conv2dParams params = c.params;
    if (c.bias) {
      Tensor b = leaf(random_tensor({c.w[0]}, 300 + i));
      CHECK(gradcheck([params](const TensorList& in) { return conv2d(in[0], in[1], in[2], params); }, {x, w, b}) == "");
    } else {
      CHECK(gradcheck([params](const TensorList& in) { return conv2d(in[0], in[1], Tensor(), params); }, {x, w}) == "");
    }
    ++i;
  }
}

TEST_CASE("conv2d gradcheck with non-contiguous input and weight", "[conv]") {
  Tensor x = leaf(random_tensor({2, 3, 6, 7}, 1)), w = leaf(random_tensor({3, 4, 3, 3}, 2)), b = leaf(random_tensor({4}, 3));
  // x transposed in H/W, weight with K and C swapped: both strided views.
  CHECK(gradcheck([](const TensorList& in) { return conv2d(in[0].transpose(2, 3), in[1].transpose(0, 1), in[2]); },
                  {x, w, b}) == "");
}

TEST_CASE("conv2d gives the same result on 1 and several threads", "[conv]") {
  const int previous = kernels::cpu::num_threads();
  auto run = [](int threads) {
    kernels::cpu::set_num_threads(threads);
    Tensor x = leaf(random_tensor({7, 3, 10, 10}, 1, -1, 1, kFloat32));
    Tensor w = leaf(random_tensor({5, 3, 3, 3}, 2, -1, 1, kFloat32)), b = leaf(random_tensor({5}, 3, -1, 1, kFloat32));
    Tensor y = conv2d(x, w, b, conv_params(1, 1, 1, 1, 1, 1));
    y.backward(random_tensor(y.sizes(), 4, -1, 1, kFloat32));
    return TensorList{y.detach(), x.grad(), w.grad(), b.grad()};
  };
  TensorList one = run(1), two = run(2);
  kernels::cpu::set_num_threads(previous);
  for (size_t i = 0; i < one.size(); ++i) CHECK(expect_close(two[i], one[i], 1e-5) == "");
}

TEST_CASE("conv2d rejects bad arguments with clear messages", "[conv]") {
  Tensor x = random_tensor({1, 3, 8, 8}, 1), w = random_tensor({4, 3, 3, 3}, 2);
  CHECK_THROWS_WITH(conv2d(random_tensor({3, 8, 8}, 1), w), Catch::Contains("conv2d: expected a 4-d tensor"));
  CHECK_THROWS_WITH(conv2d(x, random_tensor({4, 2, 3, 3}, 2)),
                    Catch::Contains("conv2d: input has 3 channels but weight expects 2"));
  CHECK_THROWS_WITH(conv2d(x, w, random_tensor({3}, 3)), Catch::Contains("conv2d: expected bias of shape [4]"));
  CHECK_THROWS_WITH(conv2d(x, w.to(kFloat32)), Catch::Contains("one dtype"));
  CHECK_THROWS_WITH(conv2d(x, random_tensor({4, 3, 9, 9}, 2)), Catch::Contains("larger than the padded input"));
  // With a stride the negative span must not round up to one window (a 4x4 kernel on 3x3).
  Conv2dParams strided;
  strided.stride = {2, 2};
  CHECK_THROWS_WITH(conv2d(random_tensor({1, 1, 3, 3}, 1), random_tensor({1, 1, 4, 4}, 2), Tensor(), strided),
                    Catch::Contains("larger than the padded input"));
  strided.stride = {4, 4};
  strided.padding = {1, 1};
  CHECK_THROWS_WITH(conv2d(random_tensor({1, 1, 3, 3}, 1), random_tensor({1, 1, 6, 6}, 2), Tensor(), strided),
                    Catch::Contains("larger than the padded input"));
  Conv2dParams bad;
  bad.stride = {0, 1};
  CHECK_THROWS_WITH(conv2d(x, w, Tensor(), bad), Catch::Contains("stride and dilation must be >= 1"));
}

// ---- max_pool2d ----------------------------------------------------------------------------

TEST_CASE("max_pool2d forward matches naive loops", "[pool]") {
  struct Case {
    Shape x;
    std::array<int64_t, 2> k, s, p;
  };
  std::vector<Case> cases = {{{2, 3, 8, 8}, {2, 2}, {2, 2}, {0, 0}},  {{1, 2, 7, 9}, {3, 2}, {2, 1}, {1, 1}},
                             {{2, 1, 9, 7}, {3, 3}, {1, 2}, {1, 0}},  {{1, 2, 5, 6}, {2, 3}, {3, 3}, {0, 1}},
                             {{3, 2, 24, 24}, {2, 2}, {2, 2}, {0, 0}}};
  int i = 0;
  for (const Case& c : cases) {
    INFO("case " << i);
    Tensor x = distinct_tensor(c.x, 10 + i);
    CHECK(expect_close(max_pool2d(x, c.k, c.s, c.p), naive_max_pool2d(x, c.k, c.s, c.p)) == "");
    ++i;
  }
  // stride defaults to the kernel size.
  Tensor x = distinct_tensor({1, 1, 6, 6}, 3);
  CHECK(max_pool2d(x, {3, 3}).sizes() == Shape{1, 1, 2, 2});
}

TEST_CASE("max_pool2d gradcheck, overlapping and padded windows, non-contiguous input", "[pool]") {
  Tensor x = leaf(distinct_tensor({2, 2, 6, 7}, 1));
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d(in[0], {2, 2}); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d(in[0], {3, 3}, {1, 2}, {1, 1}); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d(in[0], {2, 3}, {1, 1}, {1, 0}); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d(in[0].transpose(2, 3), {2, 2}); }, {x}) == "");
}

TEST_CASE("max_pool2d rejects bad arguments", "[pool]") {
  Tensor x = distinct_tensor({1, 1, 4, 4}, 1);
  CHECK_THROWS_WITH(max_pool2d(distinct_tensor({4, 4}, 1), {2, 2}), Catch::Contains("max_pool2d: expected a 4-d"));
  CHECK_THROWS_WITH(max_pool2d(x, {2, 2}, {2, 2}, {2, 2}), Catch::Contains("max_pool2d: padding must be in [0, kernel/2]"));
  CHECK_THROWS_WITH(max_pool2d(x, {5, 5}), Catch::Contains("larger than the padded input"));
  CHECK_THROWS_WITH(max_pool2d(x, {0, 2}), Catch::Contains("kernel and stride must be >= 1"));
  CHECK_THROWS_WITH(max_pool2d(ones({1, 1, 4, 4}, kInt64), {2, 2}), Catch::Contains("floating"));
}

// ---- fused ---------------------------------------------------------------------------------

TEST_CASE("bias_relu equals relu(x + bias) and passes gradcheck", "[fused]") {
  for (const Shape& shape : {Shape{5, 4}, Shape{2, 3, 4, 5}, Shape{3, 2, 7}}) {
    INFO("shape " << shape_str(shape));
    Tensor x = leaf(distinct_tensor(shape, 1)), b = leaf(random_tensor({shape[1]}, 2, -0.3, 0.3));
    Shape bshape(shape.size(), 1);
    bshape[1] = shape[1];
    CHECK(expect_close(bias_relu(x, b), relu(add(x.detach(), b.detach().reshape(bshape)))) == "");
    CHECK(gradcheck([](const TensorList& in) { return bias_relu(in[0], in[1]); }, {x, b}) == "");
  }
  // Non-contiguous input.
  Tensor x = leaf(distinct_tensor({4, 3, 5}, 3)), b = leaf(random_tensor({5}, 4, -0.3, 0.3));
  CHECK(gradcheck([](const TensorList& in) { return bias_relu(in[0].transpose(1, 2), in[1]); }, {x, b}) == "");
}

TEST_CASE("max_pool2d_relu equals relu(max_pool2d(x)) and passes gradcheck", "[fused]") {
  Tensor x = leaf(distinct_tensor({2, 3, 8, 6}, 1));
  CHECK(expect_close(max_pool2d_relu(x, {2, 2}), relu(max_pool2d(x.detach(), {2, 2}))) == "");
  CHECK(expect_close(max_pool2d_relu(x, {3, 2}), relu(max_pool2d(x.detach(), {3, 2}))) == "");
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}); }, {x}) == "");
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d_relu(in[0].transpose(2, 3), {3, 2}); }, {x}) == "");
  // Gradients equal the unfused composition's.
  Tensor g = random_tensor({2, 3, 4, 3}, 5);
  Tensor a = leaf(x.detach().clone()), b = leaf(x.detach().clone());
  max_pool2d_relu(a, {2, 2}).backward(g);
  relu(max_pool2d(b, {2, 2})).backward(g);
  CHECK(expect_close(a.grad(), b.grad()) == "");
}

TEST_CASE("max_pool2d_relu with a bias equals relu(max_pool2d(x + b)) and passes gradcheck", "[fused]") {
  // Biases of both signs around the data's range, so that the relu cuts some windows and not others.
  Tensor x = leaf(distinct_tensor({2, 3, 8, 6}, 1)), bias = leaf(random_tensor({3}, 2, -0.5, 0.5));
  auto unfused = [](const Tensor& in, const Tensor& b, std::array<int64_t, 2> k) {
    return relu(max_pool2d(add(in, b.reshape({1, b.size(0), 1, 1})), k));
  };
  CHECK(expect_close(max_pool2d_relu(x, {2, 2}, bias), unfused(x.detach(), bias.detach(), {2, 2})) == "");
  CHECK(expect_close(max_pool2d_relu(x, {3, 2}, bias), unfused(x.detach(), bias.detach(), {3, 2})) == "");
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}, in[1]); }, {x, bias}) == "");
  CHECK(gradcheck([](const TensorList& in) { return max_pool2d_relu(in[0].transpose(2, 3), {3, 2}, in[1]); },
                  {x, bias}) == "");
  // Gradients equal the unfused composition's; and with only the bias requiring grad.
  Tensor g = random_tensor({2, 3, 4, 3}, 5);
  Tensor a = leaf(x.detach().clone()), ab = leaf(bias.detach().clone());
  Tensor u = leaf(x.detach().clone()), ub = leaf(bias.detach().clone());
  max_pool2d_relu(a, {2, 2}, ab).backward(g);
  unfused(u, ub, {2, 2}).backward(g);
  CHECK(expect_close(a.grad(), u.grad()) == "");
  CHECK(expect_close(ab.grad(), ub.grad()) == "");
  Tensor only_b = leaf(bias.detach().clone());
  max_pool2d_relu(x.detach(), {2, 2}, only_b).backward(g);
  CHECK(expect_close(only_b.grad(), ub.grad()) == "");
  // Odd sizes: the last row and column lie in no window and get a zero gradient (2x2 and 2x3).
  Tensor odd = leaf(distinct_tensor({2, 3, 7, 7}, 6));
  for (std::array<int64_t, 2> k : {std::array<int64_t, 2>{2, 2}, std::array<int64_t, 2>{2, 3}}) {
    INFO("kernel " << k[0] << "x" << k[1]);
    CHECK(gradcheck([k](const TensorList& in) { return max_pool2d_relu(in[0], k, in[1]); }, {odd, bias}) == "");
  }
}

TEST_CASE("max_pool2d_relu with a bias: gradcheck at odd shapes and batch 1", "[fused][pool]") {
  // H or W not a multiple of the kernel (inputs in no window get 0), one image, and one channel;
  // the bias gradient comes from max_pool2d_backward_with_bias.
  struct Case {
    Shape shape;
    std::array<int64_t, 2> kernel;
  };
  for (const Case& c : {Case{{1, 2, 7, 5}, {2, 2}}, Case{{3, 2, 5, 7}, {3, 2}}, Case{{2, 1, 9, 4}, {4, 3}},
                        Case{{1, 3, 4, 4}, {1, 1}}}) {
    INFO("shape " << shape_str(c.shape) << " kernel " << c.kernel[0] << "x" << c.kernel[1]);
    Tensor x = leaf(distinct_tensor(c.shape, 11)), bias = leaf(random_tensor({c.shape[1]}, 12, -0.5, 0.5));
    const std::array<int64_t, 2> k = c.kernel;
    CHECK(gradcheck([k](const TensorList& in) { return max_pool2d_relu(in[0], k, in[1]); }, {x, bias}) == "");
    // Only the bias wants a gradient (a frozen input).
    const Tensor frozen = x.detach();
    CHECK(gradcheck([k, frozen](const TensorList& in) { return max_pool2d_relu(frozen, k, in[0]); }, {bias}) == "");
  }
}

TEST_CASE("max_pool2d_backward_with_bias: grad_x of max_pool2d_backward, grad_bias summed where index >= 0",
          "[fused][pool]") {
  kernels::PoolParams params;
  params.kernel = params.stride = {2, 3};
  const int64_t N = 3, C = 4, H = 7, W = 8, P = H / 2, Q = W / 3;
  Tensor grad_out = random_tensor({N, C, P, Q}, 21, -1.0, 1.0);
  std::vector<int64_t> idx(static_cast<size_t>(N * C * P * Q));
  for (size_t o = 0; o < idx.size(); ++o) {
    const int64_t q = static_cast<int64_t>(o) % Q, p = static_cast<int64_t>(o) / Q % P;
    // A position inside the window, or -1 (cut by the relu) for every third output.
    idx[o] = o % 3 == 0 ? -1 : (p * 2 + static_cast<int64_t>(o) % 2) * W + q * 3 + static_cast<int64_t>(o) % 3;
  }
  Tensor indices = from_vector(idx, {N, C, P, Q}, kInt64);
  Tensor grad_x = empty({N, C, H, W}, kFloat64), expected_x = empty({N, C, H, W}, kFloat64);
  Tensor grad_bias = empty({C}, kFloat64);
  kernels::cpu::max_pool2d_backward_with_bias(grad_out, indices, grad_x, grad_bias, params);
  kernels::cpu::max_pool2d_backward(grad_out, indices, expected_x, params);
  CHECK(expect_close(grad_x, expected_x, 0.0) == "");
  std::vector<double> g = grad_out.to_vector<double>(), expected_bias(static_cast<size_t>(C), 0.0);
  for (size_t o = 0; o < g.size(); ++o)
    if (idx[o] >= 0) expected_bias[static_cast<size_t>(o / (P * Q)) % C] += g[o];
  CHECK(expect_close(grad_bias, from_vector(expected_bias, {C}), 1e-12) == "");
}

// PyTorch's relu lets NaN through (forward, and its gradient where the output is NaN); so must
// every relu of Ember, fused or not: a diverged model must not look finite.
TEST_CASE("relu lets NaN through in all its fused forms as PyTorch does", "[fused]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    Tensor x = from_vector<double>({nan, -1.0, 2.0, -3.0}, {1, 1, 2, 2}).to(dtype).set_requires_grad(true);
    Tensor b = from_vector<double>({0.5}, {1}).to(dtype).set_requires_grad(true);
    for (int variant = 0; variant < 3; ++variant) {
      INFO("variant " << variant);
      Tensor y = variant == 0 ? relu(x) : variant == 1 ? bias_relu(x, b) : max_pool2d_relu(x, {2, 2}, b);
      std::vector<double> v = y.to(kFloat64).to_vector<double>();
      CHECK(std::isnan(v[0]));
      if (variant < 2) CHECK(v[1] == 0.0);
      sum(y).backward();
      std::vector<double> g = x.grad().to(kFloat64).to_vector<double>();
      CHECK(g[0] == 1.0);  // the NaN's output passes its gradient, as threshold_backward does
      if (variant < 2) CHECK((g[1] == 0.0 && g[2] == 1.0 && g[3] == 0.0));
      if (variant > 0) CHECK_FALSE(std::isnan(b.grad().to(kFloat64).to_vector<double>()[0]));
      x.set_grad(Tensor());
      b.set_grad(Tensor());
    }
  }
}

TEST_CASE("fused ops reject bad arguments", "[fused]") {
  CHECK_THROWS_WITH(bias_relu(random_tensor({2, 3}, 1), random_tensor({2}, 2)),
                    Catch::Contains("bias_relu: expected bias of shape [3]"));
  CHECK_THROWS_WITH(bias_relu(random_tensor({3}, 1), random_tensor({3}, 2)), Catch::Contains("bias_relu: expected an input"));
  CHECK_THROWS_WITH(max_pool2d_relu(random_tensor({2, 3, 4}, 1), {2, 2}), Catch::Contains("max_pool2d_relu: expected a 4-d"));
  CHECK_THROWS_WITH(max_pool2d_relu(random_tensor({1, 1, 3, 3}, 1), {4, 4}), Catch::Contains("must be >= 1 and fit"));
  CHECK_THROWS_WITH(max_pool2d_relu(random_tensor({1, 2, 4, 4}, 1), {2, 2}, random_tensor({3}, 2)),
                    Catch::Contains("max_pool2d_relu: expected bias of shape [2]"));
}

TEST_CASE("conv2d: an empty batch gives empty outputs and zero gradients", "[conv]") {
  Tensor x = zeros({0, 2, 6, 6}, kFloat64).set_requires_grad(true);
  Tensor w = random_tensor({3, 2, 3, 3}, 5).set_requires_grad(true);
  Tensor b = random_tensor({3}, 6).set_requires_grad(true);
  Tensor y = conv2d(x, w, b);
  CHECK(y.sizes() == Shape{0, 3, 4, 4});
  y.sum().backward();
  CHECK(w.grad().sizes() == w.sizes());
  CHECK(w.grad().to_vector<double>() == std::vector<double>(w.numel(), 0.0));
  CHECK(b.grad().to_vector<double>() == std::vector<double>(3, 0.0));
}
