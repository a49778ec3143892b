// Tensor core: views share storage with the right geometry, copies and conversions, factories,
// device parsing and the seeded random generators.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <numeric>

#include <ember/kernels/copy.h>
#include <ember/kernels/strided_indexer.h>
#include <ember/kernels/transpose_plan.h>

#include "support/test_support.h"

using namespace ember;

namespace {

// 0, 1, 2, ... as float64 in the given shape (easy to reason about after a view).
Tensor iota(const Shape& sizes) {
  std::vector<double> values(static_cast<size_t>(shape_numel(sizes)));
  std::iota(values.begin(), values.end(), 0.0);
  return from_vector(values, sizes);
}

// Runs fn, expects an ember::Error whose message contains every fragment.
template <typename F>
void require_error_mentions(F&& fn, std::initializer_list<const char*> fragments) {
  try {
    fn();
  } catch (const Error& e) {
    std::string what = e.what();
    for (const char* f : fragments) {
      INFO("message: " << what);
      CHECK(what.find(f) != std::string::npos);
    }
    return;
  }
  FAIL("expected ember::Error");
}

}  // namespace

TEST_CASE("tensor: view and reshape share storage", "[core]") {
  Tensor t = iota({2, 3, 4});
  Tensor v = t.view({6, 4});
  CHECK(v.storage() == t.storage());
  CHECK(v.sizes() == Shape{6, 4});
  CHECK(v.strides() == Shape{4, 1});
  CHECK(v.to_vector<double>() == t.to_vector<double>());

  Tensor inferred = t.view({-1, 2});
  CHECK(inferred.sizes() == Shape{12, 2});

  Tensor r = t.reshape({4, 6});
  CHECK(r.storage() == t.storage());

  // A transposed tensor cannot be viewed flat, but reshape copies.
  Tensor tt = t.transpose(0, 2);
  CHECK_THROWS_AS(tt.view({24}), Error);
  Tensor flat = tt.reshape({24});
  CHECK(flat.storage() != t.storage());
  CHECK(flat.is_contiguous());
  CHECK(flat.to_vector<double>() == tt.contiguous().to_vector<double>());

  require_error_mentions([&] { t.view({5, 5}); }, {"view", "[5, 5]"});
  require_error_mentions([&] { t.view({-1, -1}); }, {"view", "-1"});
}

TEST_CASE("tensor: flatten merges a range of dims", "[core]") {
  Tensor t = iota({2, 3, 4, 5});
  CHECK(t.flatten().sizes() == Shape{120});
  CHECK(t.flatten(1).sizes() == Shape{2, 60});
  CHECK(t.flatten(1, 2).sizes() == Shape{2, 12, 5});
  CHECK(t.flatten(1, 2).storage() == t.storage());
  CHECK(scalar_tensor(3.0).flatten().sizes() == Shape{1});
  CHECK_THROWS_AS(t.flatten(2, 1), Error);
}

TEST_CASE("tensor: permute and transpose swap strides", "[core]") {
  Tensor t = iota({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  CHECK(p.storage() == t.storage());
  CHECK(p.sizes() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  CHECK_FALSE(p.is_contiguous());
  // p[k][i][j] == t[i][j][k]
  std::vector<double> pv = p.contiguous().to_vector<double>();
  CHECK(pv[(3 * 2 + 1) * 3 + 2] == 1 * 12 + 2 * 4 + 3);

  Tensor tr = t.transpose(0, -1);
  CHECK(tr.sizes() == Shape{4, 3, 2});
  CHECK(tr.strides() == Shape{1, 4, 12});
  Tensor m = iota({2, 3});
  CHECK(m.t().contiguous().to_vector<double>() == std::vector<double>{0, 3, 1, 4, 2, 5});

  CHECK_THROWS_AS(t.permute({0, 1}), Error);
  CHECK_THROWS_AS(t.permute({0, 1, 1}), Error);
  require_error_mentions([&] { t.transpose(0, 3); }, {"transpose"});
}

TEST_CASE("tensor: narrow, slice and select move the offset", "[core]") {
  Tensor t = iota({4, 5});
  Tensor n = t.narrow(1, 2, 3);
  CHECK(n.storage() == t.storage());
  CHECK(n.sizes() == Shape{4, 3});
  CHECK(n.strides() == Shape{5, 1});
  CHECK(n.offset() == 2);
  CHECK(n.contiguous().to_vector<double>()[0] == 2);

  Tensor s = t.slice(0, 1, 4, 2);  // rows 1 and 3
  CHECK(s.sizes() == Shape{2, 5});
  CHECK(s.strides() == Shape{10, 1});
  CHECK(s.offset() == 5);
  CHECK(s.select(1, -1).to_vector<double>() == std::vector<double>{9, 19});

  Tensor neg_slice = t.slice(1, -2, 5);
  CHECK(neg_slice.sizes() == Shape{4, 2});
  CHECK(neg_slice.offset() == 3);

  Tensor row = t.select(0, 2);
  CHECK(row.sizes() == Shape{5});
  CHECK(row.offset() == 10);
  CHECK(row.storage() == t.storage());

  // Views of views compose their offsets.
  Tensor nested = t.narrow(0, 1, 3).narrow(1, 1, 3).select(0, 1);
  CHECK(nested.offset() == 2 * 5 + 1);
  CHECK(nested.to_vector<double>() == std::vector<double>{11, 12, 13});

  require_error_mentions([&] { t.narrow(1, 3, 3); }, {"narrow", "[4, 5]"});
  require_error_mentions([&] { t.select(0, 4); }, {"select", "4"});
  CHECK_THROWS_AS(t.slice(0, 0, 2, 0), Error);
}

TEST_CASE("tensor: expand, unsqueeze and squeeze", "[core]") {
  Tensor t = iota({3, 1});
  Tensor e = t.expand({2, 3, 4});
  CHECK(e.storage() == t.storage());
  CHECK(e.sizes() == Shape{2, 3, 4});
  CHECK(e.strides()[0] == 0);
  CHECK(e.strides()[2] == 0);
  CHECK(e.contiguous().to_vector<double>()[4 * 2 + 3] == 2);
  CHECK(t.expand({-1, 6}).sizes() == Shape{3, 6});
  require_error_mentions([&] { t.expand({4, 4}); }, {"[3, 1]", "[4, 4]"});

  Tensor u = iota({2, 3}).unsqueeze(1);
  CHECK(u.sizes() == Shape{2, 1, 3});
  CHECK(u.unsqueeze(-1).sizes() == Shape{2, 1, 3, 1});
  Tensor sq = u.squeeze(1);
  CHECK(sq.sizes() == Shape{2, 3});
  CHECK(sq.storage() == u.storage());
  CHECK(sq.squeeze(0).sizes() == Shape{2, 3});  // size != 1: unchanged
}

TEST_CASE("tensor: contiguous returns self or a packed copy", "[core]") {
  Tensor t = iota({3, 4});
  CHECK(t.contiguous().is_same(t));
  Tensor tr = t.t();
  Tensor c = tr.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.storage() != t.storage());
  CHECK(c.strides() == Shape{3, 1});
  CHECK(c.to_vector<double>() == std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  // Size-1 dims do not break contiguity, whatever their stride.
  Tensor odd = detail::make_view(t, {3, 1, 4}, {4, 99, 1}, 0);
  CHECK(odd.is_contiguous());
  // Empty tensors are contiguous whatever their strides (a K = 0 GEMM operand, say).
  CHECK(empty({5, 0}).is_contiguous());
  CHECK(empty({0, 3}).t().is_contiguous());
}

// Transposes and permutes large enough for the tiled copy (kernels/transpose_plan.h), with sizes
// that are not multiples of the tile, batch dims, a sliced source and three dtypes; the expected
// values come from index arithmetic on the source's flat data, not from another copy.
TEST_CASE("tensor: contiguous of transposed and permuted views (the tiled copy)", "[core]") {
  const int64_t A = 3, B = 37, C = 70;
  for (DType dtype : {kFloat32, kFloat64, kInt64}) {
    INFO("dtype " << dtype_name(dtype));
    Tensor x = iota({A, B, C}).to(dtype);  // x[a, b, c] = (a*B + b)*C + c
    Tensor dst = empty({C, A, B}, TensorOptions(dtype));
    kernels::TransposePlan plan;
    Tensor permuted = x.permute({2, 0, 1});  // y[c, a, b] = x[a, b, c]
    REQUIRE(kernels::plan_transposed_copy(permuted, dst, plan));
    CHECK((plan.rows == C && plan.cols == B && plan.batches == A));
    std::vector<double> y = permuted.contiguous().to(kFloat64).to_vector<double>();
    bool all_equal = true;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t a = 0; a < A; ++a)
        for (int64_t b = 0; b < B; ++b) all_equal &= y[static_cast<size_t>((c * A + a) * B + b)] == (a * B + b) * C + c;
    CHECK(all_equal);
    // A 2-d transpose of a sliced source: src's column stride is C, its rows start at column 5.
    Tensor sliced = x.select(0, 1).slice(1, 5, C);  // (B, C - 5), strides (C, 1)
    Tensor t = sliced.t();                            // (C - 5, B): strides (1, C)
    std::vector<double> z = t.contiguous().to(kFloat64).to_vector<double>();
    all_equal = true;
    for (int64_t i = 0; i < C - 5; ++i)
      for (int64_t j = 0; j < B; ++j) all_equal &= z[static_cast<size_t>(i * B + j)] == (1 * B + j) * C + i + 5;
    CHECK(all_equal);
  }
  // Below one tile in either dim, or with a dtype change, the plain strided copy runs instead.
  kernels::TransposePlan plan;
  Tensor small = iota({8, 40});
  CHECK_FALSE(kernels::plan_transposed_copy(small.t(), empty({40, 8}, TensorOptions(kFloat64)), plan));
  Tensor big = iota({40, 40});
  CHECK_FALSE(kernels::plan_transposed_copy(big.t(), empty({40, 40}, TensorOptions(kFloat32)), plan));
  CHECK(big.t().to(kFloat32).to(kFloat64).to_vector<double>() == big.t().contiguous().to_vector<double>());
  // The CPU kernel copies between overlapping views of one buffer, large enough to be split over
  // the threads if they did not overlap, with memmove's meaning: x[i] = old x[i - shift].
  // (Tensor::copy_ refuses such a copy, as PyTorch does: CUDA's copy has no such order.)
  const int64_t n = int64_t{1} << 21, shift = n / 4;
  Tensor shifted = arange(0, static_cast<double>(n), 1, kFloat32);
  kernels::cpu::copy(shifted.slice(0, 0, n - shift), shifted.slice(0, shift, n));
  std::vector<float> v = shifted.to_vector<float>();
  bool moved = true;
  for (int64_t i = 0; i < n; ++i) moved &= v[static_cast<size_t>(i)] == static_cast<float>(i < shift ? i : i - shift);
  CHECK(moved);
  CHECK_THROWS_WITH(shifted.slice(0, shift, n).copy_(shifted.slice(0, 0, n - shift)),
                    Catch::Contains("copy_: unsupported operation"));
}

// make_indexer merges the dims every operand walks as one and drops dims of size 1; the merged
// indexer must map each logical element to the offsets the full shape gives.
TEST_CASE("tensor: strided indexers merge dims walked as one", "[core]") {
  Tensor x = iota({2, 3, 1, 4});
  kernels::StridedIndexer contiguous = kernels::make_indexer(x.sizes(), {x, x});
  CHECK((contiguous.ndim == 1 && contiguous.sizes[0] == 24));
  Tensor out = empty({4, 2, 3});
  Tensor permuted = x.squeeze(2).permute({2, 0, 1});  // strides (1, 12, 4): dims 1 and 2 merge
  kernels::StridedIndexer ix = kernels::make_indexer(out.sizes(), {out, permuted});
  CHECK((ix.ndim == 2 && ix.sizes[0] == 4 && ix.sizes[1] == 6));
  Tensor row = iota({3}).unsqueeze(0).expand({5, 3});  // a broadcast operand (stride 0) merges with nothing
  Tensor dst = empty({5, 3});
  kernels::StridedIndexer bx = kernels::make_indexer(dst.sizes(), {dst, row});
  CHECK(bx.ndim == 2);
  CHECK(kernels::make_indexer(Shape{1, 1}, {iota({1, 1})}).ndim == 0);
  bool all_equal = true;
  for (int64_t c = 0; c < 4; ++c)
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t b = 0; b < 3; ++b) {
        int64_t off[kernels::kMaxOperands];
        ix.offsets((c * 2 + a) * 3 + b, off, 2);
        all_equal &= off[0] == (c * 2 + a) * 3 + b && off[1] == c + 12 * a + 4 * b;
      }
  for (int64_t i = 0; i < 15; ++i) {
    int64_t off[kernels::kMaxOperands];
    bx.offsets(i, off, 2);
    all_equal &= off[0] == i && off[1] == i % 3;
  }
  CHECK(all_equal);
  CHECK(permuted.contiguous().to_vector<double>() == permuted.to(kFloat32).to(kFloat64).to_vector<double>());
  // Below 2^31 elements the divisions are FastDivmod's; they must give the / and % offsets.
  Tensor wide = iota({7, 5, 9}).permute({2, 0, 1}).slice(2, 1, 4);  // (9, 7, 3), strides (1, 45, 9)
  Tensor wide_out = empty({9, 7, 3});
  kernels::StridedIndexer fast = kernels::make_indexer(wide_out.sizes(), {wide_out, wide});
  REQUIRE((fast.fast && fast.ndim == 3));
  kernels::StridedIndexer slow = fast;
  slow.fast = false;
  for (int64_t i = 0; i < 9 * 7 * 3; ++i) {
    int64_t a[kernels::kMaxOperands], b[kernels::kMaxOperands];
    fast.offsets(i, a, 2);
    slow.offsets(i, b, 2);
    all_equal &= a[0] == b[0] && a[1] == b[1];
  }
  CHECK(all_equal);
}

TEST_CASE("tensor: to(dtype) and clone copy the data", "[core]") {
  Tensor d = from_vector<double>({1.5, -2.25, 3.0, 1e10}, {2, 2});
  Tensor f = d.to(kFloat32);
  CHECK(f.dtype() == kFloat32);
  CHECK(f.to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.0f, 1e10f});
  CHECK(d.to(kFloat64).is_same(d));
  Tensor i = from_vector<double>({1.7, -2.7, 3.2, 0.0}, {4}).to(kInt64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3, 0});
  Tensor u8 = from_vector<int64_t>({0, 1, 255}, {3}).to(kUInt8);
  CHECK(u8.to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 255});

  Tensor c = d.t().clone();
  CHECK(c.storage() != d.storage());
  CHECK(c.is_contiguous());
  CHECK(c.to_vector<double>() == std::vector<double>{1.5, 3.0, -2.25, 1e10});
  c.fill_(7.0);
  CHECK(d.to_vector<double>()[0] == 1.5);  // clone is independent
}

TEST_CASE("tensor: copy_ broadcasts into a non-contiguous destination", "[core]") {
  Tensor dst = zeros({4, 3}, kFloat64);
  Tensor dst_t = dst.t();  // (3, 4), strides (1, 3)
  Tensor row = from_vector<double>({1, 2, 3, 4}, {4});
  dst_t.copy_(row);  // every row of dst_t is 1..4, so column j of dst is j+1
  CHECK(dst.to_vector<double>() == std::vector<double>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});

  Tensor col = from_vector<double>({10, 20, 30}, {3, 1});
  dst_t.copy_(col);
  CHECK(dst.to_vector<double>() == std::vector<double>{10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30});

  // Writes through a strided slice touch only the slice.
  Tensor base = zeros({2, 6}, kFloat64);
  base.slice(1, 0, 6, 2).copy_(from_vector<float>({5, 6, 7}, {3}));  // float32 source: converted
  CHECK(base.to_vector<double>() == std::vector<double>{5, 0, 6, 0, 7, 0, 5, 0, 6, 0, 7, 0});

  require_error_mentions([&] { dst.copy_(zeros({5}, kFloat64)); }, {"copy_", "[5]", "[4, 3]"});

  Tensor needs_grad = zeros({2}, kFloat64).set_requires_grad(true);
  CHECK_THROWS_AS(needs_grad.copy_(ones({2}, kFloat64)), Error);
  NoGradGuard no_grad;
  needs_grad.copy_(ones({2}, kFloat64));
  CHECK(needs_grad.to_vector<double>() == std::vector<double>{1, 1});
}

TEST_CASE("tensor: factories", "[core]") {
  Tensor z = zeros({2, 3});
  CHECK(z.dtype() == kFloat32);
  CHECK(z.device() == kCPU);
  CHECK(z.sizes() == Shape{2, 3});
  CHECK(z.is_contiguous());
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(ones({3}, kFloat64).to_vector<double>() == std::vector<double>(3, 1.0));
  CHECK(full({2}, 2.5, kFloat64).to_vector<double>() == std::vector<double>{2.5, 2.5});
  CHECK(empty({0, 4}).numel() == 0);

  Tensor s = scalar_tensor(4.0, kFloat64);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 4.0);

  Tensor leaf = ones({2}, TensorOptions(kFloat64).with_requires_grad());
  CHECK(leaf.requires_grad());
  CHECK(leaf.is_leaf());

  Tensor like = zeros_like(from_vector<double>({1, 2, 3}, {3}));
  CHECK(like.dtype() == kFloat64);
  CHECK(like.sizes() == Shape{3});
  CHECK(ones_like(like).to_vector<double>() == std::vector<double>{1, 1, 1});
  CHECK(empty_like(like).sizes() == Shape{3});

  std::vector<float> raw{1, 2, 3, 4};
  Tensor blob = from_blob(raw.data(), {2, 2}, kFloat32);
  raw[0] = 100;  // from_blob copies
  CHECK(blob.to_vector<float>()[0] == 1.0f);

  require_error_mentions([] { empty({2, -1}); }, {"negative", "[2, -1]"});
  require_error_mentions([] { from_vector<double>({1, 2, 3}, {2, 2}); }, {"from_vector", "[2, 2]"});
  CHECK_THROWS_AS(zeros({2}, kInt64).set_requires_grad(true), Error);
  CHECK_THROWS_AS(zeros({2}).item(), Error);
  CHECK_THROWS_AS(zeros({2}).data<double>(), Error);
}

TEST_CASE("tensor: arange", "[core]") {
  CHECK(arange(0, 5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(arange(0, 5).dtype() == kInt64);
  CHECK(arange(1, 2, 0.25, kFloat64).to_vector<double>() == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(arange(5, 0, -2).to_vector<int64_t>() == std::vector<int64_t>{5, 3, 1});
  CHECK(arange(3, 3).numel() == 0);
  CHECK_THROWS_AS(arange(0, 5, 0), Error);
  require_error_mentions([] { arange(0, 5, -1); }, {"arange"});
}

// arange honours with_requires_grad as the other factories do; an integer dtype is refused as
// zeros refuses it.
TEST_CASE("tensor: arange with requires_grad, floating dtypes only", "[core]") {
  Tensor leaf = arange(0, 3, 1, TensorOptions(kFloat64).with_requires_grad());
  CHECK((leaf.requires_grad() && leaf.is_leaf()));
  sum(leaf * leaf).backward();
  CHECK(leaf.grad().to_vector<double>() == std::vector<double>{0, 2, 4});
  CHECK(!arange(0, 3, 1, kFloat64).requires_grad());
  require_error_mentions([] { zeros({2}, TensorOptions(kInt64).with_requires_grad()); }, {"floating dtype"});
  require_error_mentions([] { arange(0, 3, 1, TensorOptions(kInt64).with_requires_grad()); }, {"floating dtype"});
}

TEST_CASE("tensor: device parsing", "[core]") {
  CHECK(Device("cpu") == kCPU);
  CHECK(Device("cuda") == cuda_device(0));
  CHECK(Device("cuda:3") == cuda_device(3));
  CHECK(Device("cuda:3").str() == "cuda:3");
  CHECK(kCPU.str() == "cpu");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "CPU", "", "cuda1"}) {
    INFO("spec '" << bad << "'");
    require_error_mentions([&] { Device d{std::string(bad)}; (void)d; }, {"invalid device"});
  }
}

TEST_CASE("tensor: CUDA tensors without CUDA fail clearly", "[core]") {
  if (cuda::is_available()) return;  // covered by tests/cuda
  require_error_mentions([] { zeros({2}, TensorOptions(cuda_device(0))); }, {"CUDA"});
  require_error_mentions([] { ones({2}).to(cuda_device(0)); }, {"CUDA"});
}

TEST_CASE("random: rand and randn are reproducible for a seed", "[core]") {
  Generator a(42), b(42), c(43);
  Tensor ra = rand({1000}, kFloat64, &a), rb = rand({1000}, kFloat64, &b), rc = rand({1000}, kFloat64, &c);
  CHECK(ra.to_vector<double>() == rb.to_vector<double>());
  CHECK(ra.to_vector<double>() != rc.to_vector<double>());
  // The stream advances: a second draw differs from the first.
  CHECK(rand({1000}, kFloat64, &a).to_vector<double>() != ra.to_vector<double>());

  std::vector<double> u = ra.to_vector<double>();
  CHECK(*std::min_element(u.begin(), u.end()) >= 0.0);
  CHECK(*std::max_element(u.begin(), u.end()) < 1.0);
  double mean_u = std::accumulate(u.begin(), u.end(), 0.0) / u.size();
  CHECK(mean_u == Approx(0.5).margin(0.05));

  Generator n1(7), n2(7), n3(8);
  Tensor x = randn({4000}, kFloat64, &n1);
  CHECK(x.to_vector<double>() == randn({4000}, kFloat64, &n2).to_vector<double>());
  CHECK(x.to_vector<double>() != randn({4000}, kFloat64, &n3).to_vector<double>());
  std::vector<double> v = x.to_vector<double>();
  double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  double sq = 0;
  for (double e : v) sq += (e - mean) * (e - mean);
  CHECK(mean == Approx(0.0).margin(0.1));
  CHECK(sq / v.size() == Approx(1.0).margin(0.1));

  // The default generator follows manual_seed.
  manual_seed(123);
  std::vector<float> first = rand({64}).to_vector<float>();
  manual_seed(123);
  CHECK(rand({64}).to_vector<float>() == first);

  // A saved state replays the stream.
  Generator g(99);
  Generator::State saved = g.state();
  std::vector<double> once = randn({33}, kFloat64, &g).to_vector<double>();
  g.set_state(saved);
  CHECK(randn({33}, kFloat64, &g).to_vector<double>() == once);
}

TEST_CASE("random: uniform_ and normal_ fill strided views in logical order", "[core]") {
  // A transposed view and a row slice get the values a contiguous tensor of their shape would.
  for (bool normal : {false, true}) {
    INFO((normal ? "normal_" : "uniform_"));
    auto fill = [normal](Tensor& t, Generator* g) -> Tensor& {
      return normal ? normal_(t, 1.0, 2.0, g) : uniform_(t, -1.0, 3.0, g);
    };
    Generator dense_gen(5), view_gen(5);
    Tensor dense = empty({3, 5}, kFloat64);
    fill(dense, &dense_gen);
    Tensor base = zeros({5, 3}, kFloat64);
    Tensor transposed = base.t();
    fill(transposed, &view_gen);
    CHECK(base.t().contiguous().to_vector<double>() == dense.to_vector<double>());
    CHECK(view_gen.state().offset == dense_gen.state().offset);

    Tensor wide = zeros({3, 8}, kFloat64);
    Tensor columns = wide.narrow(1, 2, 5);  // (3, 5), row stride 8
    Generator slice_gen(5);
    fill(columns, &slice_gen);
    CHECK(columns.contiguous().to_vector<double>() == dense.to_vector<double>());
    // The columns outside the slice stay untouched.
    CHECK(wide.narrow(1, 0, 2).contiguous().to_vector<double>() == std::vector<double>(6, 0.0));
  }
  // Parameters that require grad are filled under NoGradGuard (as nn::init does), as in PyTorch.
  Tensor w = zeros({4, 3}, kFloat32).set_requires_grad(true);
  Tensor wt = w.t();
  CHECK_THROWS_WITH(uniform_(wt, -1.0, 1.0), Catch::Contains("uniform_: in-place write to a tensor that requires grad"));
  {
    NoGradGuard no_grad;
    CHECK_NOTHROW(uniform_(wt, -1.0, 1.0));
  }
  std::vector<float> filled = w.to_vector<float>();
  CHECK(std::count(filled.begin(), filled.end(), 0.0f) == 0);
  // An expanded view would get several values per element.
  Tensor expanded = zeros({3}).unsqueeze(0).expand({4, 3});
  CHECK_THROWS_WITH(normal_(expanded, 0.0, 1.0), Catch::Contains("normal_: unsupported operation"));
  Tensor integers = zeros({4}, kInt64);
  CHECK_THROWS_WITH(uniform_(integers, 0.0, 1.0), Catch::Contains("uniform_") && Catch::Contains("floating"));
}

TEST_CASE("random: randint stays in range and randperm is a permutation", "[core]") {
  Generator g(5);
  std::vector<int64_t> r = randint(-3, 4, {2000}, kInt64, &g).to_vector<int64_t>();
  CHECK(*std::min_element(r.begin(), r.end()) == -3);
  CHECK(*std::max_element(r.begin(), r.end()) == 3);
  CHECK_THROWS_AS(randint(2, 2, {3}), Error);

  for (int64_t n : {1, 2, 17, 1000}) {
    Generator gp(static_cast<uint64_t>(n));
    std::vector<int64_t> p = randperm(n, &gp).to_vector<int64_t>();
    std::vector<int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> expected(static_cast<size_t>(n));
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(sorted == expected);
    if (n == 1000) CHECK(p != expected);  // shuffled
  }
  CHECK(randperm(5).dtype() == kInt64);
  Generator s1(11), s2(11), s3(12);
  CHECK(randperm(50, &s1).to_vector<int64_t>() == randperm(50, &s2).to_vector<int64_t>());
  CHECK(randperm(50, &s1).to_vector<int64_t>() != randperm(50, &s3).to_vector<int64_t>());
}

TEST_CASE("tensor: version matches the CMake package version", "[core]") {
  // The project() line of the top-level CMakeLists.txt is the one source of the version.
  std::ifstream cmake_lists(std::string(EMBER_SOURCE_DIR) + "/CMakeLists.txt");
  REQUIRE(cmake_lists);
  std::stringstream text;
  text << cmake_lists.rdbuf();
  std::smatch match;
  std::string contents = text.str();
  REQUIRE(std::regex_search(contents, match, std::regex(R"(project\(Ember\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+))")));
  CHECK(version() == match[1].str());
  CHECK(version() == EMBER_VERSION_STRING);
  std::string expected = std::to_string(EMBER_VERSION_MAJOR) + "." + std::to_string(EMBER_VERSION_MINOR) + "." +
                         std::to_string(EMBER_VERSION_PATCH);
  CHECK(version() == expected);
}

TEST_CASE("tensor: in-place writes refuse overlapping memory, as PyTorch", "[core]") {
  auto expanded = [] { return zeros({3}, kFloat64).unsqueeze(0).expand({4, 3}); };
  Tensor ones43 = ones({4, 3}, kFloat64);
  CHECK_THROWS_WITH(expanded().add_(ones43), Catch::Contains("add_: unsupported operation: more than one element"));
  CHECK_THROWS_WITH(expanded().mul_(2.0), Catch::Contains("mul_: unsupported operation"));
  CHECK_THROWS_WITH(expanded().copy_(ones43), Catch::Contains("copy_: unsupported operation"));
  // A fill writes one value however often: allowed, as in PyTorch.
  Tensor base = zeros({3}, kFloat64);
  base.unsqueeze(0).expand({4, 3}).fill_(1.5);
  CHECK(base.to_vector<double>() == std::vector<double>{1.5, 1.5, 1.5});

  Tensor x = arange(0, 9, 1, kFloat64).view({3, 3});
  CHECK_THROWS_WITH(x.copy_(x.t()), Catch::Contains("copy_: unsupported operation: some elements of the input"));
  CHECK_THROWS_WITH(x.narrow(0, 1, 2).copy_(x.narrow(0, 0, 2)), Catch::Contains("copy_: unsupported operation"));
  CHECK_THROWS_WITH(x.add_(x.select(0, 0)), Catch::Contains("add_: unsupported operation"));
  // A refused write changed nothing, not even the version.
  CHECK(x.version() == 0);
  CHECK(x.to_vector<double>() == arange(0, 9, 1, kFloat64).to_vector<double>());
  // The same view, or columns that interleave without sharing an element, are fine.
  x.copy_(x);
  x.add_(x.detach());
  CHECK(x.to_vector<double>() == std::vector<double>{0, 2, 4, 6, 8, 10, 12, 14, 16});
  x.select(1, 0).copy_(x.select(1, 1));
  CHECK(x.to_vector<double>() == std::vector<double>{2, 2, 4, 8, 8, 10, 14, 14, 16});
  CHECK(x.version() == 3);
  // Dense layouts are judged by their strides: a transpose is dense, a column is not.
  CHECK(is_non_overlapping_and_dense(x.t()));
  CHECK(!is_non_overlapping_and_dense(x.select(1, 0)));
  CHECK(is_non_overlapping_and_dense(x.narrow(1, 0, 1)) == false);
  CHECK(is_non_overlapping_and_dense(zeros({2, 1, 3}).expand({2, 1, 3})));
}

TEST_CASE("tensor: 0-d tensors take dim 0 or -1 where PyTorch does, and refuse it elsewhere", "[core]") {
  Tensor s = scalar_tensor(2.0, kFloat64);
  CHECK(s.squeeze(0).dim() == 0);
  CHECK(s.transpose(0, -1).item() == 2.0);
  CHECK(s.unsqueeze(0).sizes() == Shape{1});
  CHECK_THROWS_WITH(s.size(0), Catch::Contains("size: dim 0 asked of a 0-d tensor"));
  CHECK_THROWS_WITH(s.stride(-1), Catch::Contains("stride: dim -1 asked of a 0-d tensor"));
  CHECK_THROWS_WITH(s.select(0, 0), Catch::Contains("select: cannot be applied to a 0-d tensor"));
  CHECK_THROWS_WITH(s.narrow(0, 0, 1), Catch::Contains("narrow: cannot be applied to a 0-d tensor"));
  CHECK_THROWS_WITH(s.slice(0, 0, 1), Catch::Contains("slice: cannot be applied to a 0-d tensor"));
  CHECK_THROWS_WITH(s.transpose(0, 1), Catch::Contains("transpose: dim 1 out of range"));
  // t() leaves 0-d and 1-d tensors as they are and refuses more than 2 dims, as torch's.
  CHECK(s.t().dim() == 0);
  CHECK(arange(0, 3, 1).t().sizes() == Shape{3});
  CHECK(zeros({2, 3}).t().sizes() == Shape{3, 2});
  CHECK_THROWS_WITH(zeros({2, 3, 4}).t(), Catch::Contains("t: expects a tensor of at most 2 dims"));
}

TEST_CASE("tensor: narrow counts a negative start from the end, expand refuses negative new dims", "[core]") {
  Tensor x = arange(0, 5, 1, kFloat64);
  CHECK(x.narrow(0, -2, 2).to_vector<double>() == std::vector<double>{3, 4});
  CHECK(x.narrow(0, 5, 0).numel() == 0);
  CHECK_THROWS_WITH(x.narrow(0, -6, 1), Catch::Contains("narrow: start -6 out of range"));
  CHECK_THROWS_WITH(x.narrow(0, -2, 3), Catch::Contains("narrow: range [3, 6) out of bounds"));
  CHECK(ones({3}).expand({-1}).sizes() == Shape{3});
  CHECK(ones({3}).expand({0, 3}).numel() == 0);
  CHECK_THROWS_WITH(ones({3}).expand({-1, 3}), Catch::Contains("expand: size -1 of new leading dim 0"));
  CHECK_THROWS_WITH(ones({3}).expand({-2, 3}), Catch::Contains("expand"));
  CHECK_THROWS_WITH(ones({3}).expand({2, 4}), Catch::Contains("expand: cannot broadcast [3] to [2, 4]"));
}

TEST_CASE("tensor: item<int64_t> is exact beyond 2^53, undefined tensors say so", "[core]") {
  const int64_t big = (int64_t{1} << 53) + 1;
  Tensor t = from_vector<int64_t>({big}, {1});
  CHECK(t.item<int64_t>() == big);
  CHECK_THROWS_WITH(t.item<int>(), Catch::Contains("overflows the requested integer type"));
  CHECK(scalar_tensor(2.5).item<float>() == 2.5f);
  CHECK(scalar_tensor(0.5).item<bool>());
  CHECK(scalar_tensor(-0.3).item<bool>());
  CHECK_FALSE(scalar_tensor(0.0).item<bool>());
  CHECK(scalar_tensor(-2.7).item<int>() == -2);
  CHECK_THROWS_WITH(scalar_tensor(NAN).item<int>(), Catch::Contains("does not fit an integer"));
  CHECK_THROWS_WITH(scalar_tensor(1e300).item<int64_t>(), Catch::Contains("does not fit an integer"));
  CHECK_THROWS_WITH(scalar_tensor(300.0).item<int8_t>(), Catch::Contains("overflows the requested integer type"));
  CHECK_THROWS_WITH(from_vector<int64_t>({-1}, {1}).item<uint32_t>(), Catch::Contains("overflows"));
  Tensor undefined;
  CHECK_THROWS_WITH(undefined.item(), Catch::Contains("item(): called on an undefined Tensor"));
  CHECK_THROWS_WITH(undefined.backward(), Catch::Contains("backward: called on an undefined Tensor"));
  CHECK_THROWS_WITH(undefined.sizes(), Catch::Contains("undefined Tensor (default-constructed or moved-from"));
}

TEST_CASE("tensor: in-place arithmetic errors name the op", "[core]") {
  Tensor i = zeros({3}, kInt64);
  CHECK_THROWS_WITH(i.add_(i), Catch::Contains("add_: expected a floating tensor"));
  CHECK_THROWS_WITH(i.mul_(2.0), Catch::Contains("mul_: expected a floating tensor"));
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH(x.add_(ones({4})), Catch::Contains("add_: cannot broadcast [4] to [2, 3]"));
  CHECK(x.version() == 0);
  // Nine dims that merge into fewer than nine pass the strided kernels; nine that do not, fail
  // with the shape named.
  Tensor nine = ones(Shape(9, 2), kFloat64);
  CHECK(sum(nine + nine).item() == 1024.0);
  Tensor strided = ones(Shape(9, 3), kFloat64).slice(8, 0, 2).slice(7, 0, 2).slice(6, 0, 2).slice(5, 0, 2)
                       .slice(4, 0, 2).slice(3, 0, 2).slice(2, 0, 2).slice(1, 0, 2).slice(0, 0, 2);
  CHECK_THROWS_WITH(strided.contiguous(), Catch::Contains("strided kernels walk at most 8 dims"));
}

TEST_CASE("tensor: operator<< prints nested rows, one width, summarised past 1000 elements", "[core]") {
  auto printed = [](const Tensor& t) {
    std::ostringstream out;
    out << t;
    return out.str();
  };
  CHECK(printed(from_vector<float>({1, 2.5, -3, 4, 5, 6}, {2, 3})) ==
        "Tensor[2, 3] float32 cpu\n[[ 1.0000,  2.5000, -3.0000],\n [ 4.0000,  5.0000,  6.0000]]");
  CHECK(printed(arange(0, 8, 1).view({2, 2, 2})) == "Tensor[2, 2, 2] int64 cpu\n[[[0, 1],\n  [2, 3]],\n\n [[4, 5],\n  [6, 7]]]");
  CHECK(printed(scalar_tensor(3.25, kFloat64)) == "Tensor[] float64 cpu\n3.2500");
  CHECK(printed(from_vector<double>({1e-6, 2}, {2}).set_requires_grad(true)) ==
        "Tensor[2] float64 cpu, requires_grad\n[1.0000e-06, 2.0000e+00]");
  CHECK(printed(from_vector<int64_t>({(int64_t{1} << 53) + 1}, {1})) == "Tensor[1] int64 cpu\n[9007199254740993]");
  CHECK(printed(zeros({0, 3})) == "Tensor[0, 3] float32 cpu\n[]");
  CHECK(printed(Tensor()) == "Tensor(undefined)");
  // 1001 elements: the first and last three of the dim.
  std::string big = printed(arange(0, 1001, 1));
  CHECK(big == "Tensor[1001] int64 cpu\n[   0,    1,    2, ...,  998,  999, 1000]");
}
