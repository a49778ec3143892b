// Reductions, softmax, losses, dropout and index ops on CUDA against the CPU reference, forward
// and backward: float32 at rtol 1e-4, float64 at rtol 1e-10, random inputs bounded away from
// zero, including long rows (100000 elements) that take the block-per-row kernels.
#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include "../support/test_support.h"

using namespace ember;
using ember::testing::compare_cuda_with_cpu;
using ember::testing::random_tensor;

namespace {

// Never zero and positive: a relative error of a sum that cancels towards zero means nothing.
Tensor input(const Shape& sizes, uint64_t seed) { return random_tensor(sizes, seed, 0.5, 1.5).set_requires_grad(true); }

struct Precision {
  DType dtype;
  double rtol, atol;
};
const Precision kPrecisions[] = {{kFloat32, 1e-4, 1e-6}, {kFloat64, 1e-10, 1e-12}};

// float32_atol overrides the float32 absolute tolerance where the compared values cancel.
void check_cuda(const ember::testing::TensorFn& fn, const TensorList& inputs, const char* what,
                double float32_atol = kPrecisions[0].atol) {
  for (const Precision& p : kPrecisions) {
    INFO(what << " in " << dtype_name(p.dtype));
    const double atol = p.dtype == kFloat32 ? float32_atol : p.atol;
    CHECK(compare_cuda_with_cpu(fn, inputs, p.rtol, atol, p.dtype) == "");
  }
}

Tensor class_targets(int64_t n, int64_t classes, uint64_t seed) {
  Generator gen(seed);
  return randint(0, classes, {n}, TensorOptions(kInt64), &gen);
}

}  // namespace

TEST_CASE("cuda: sum and mean over dims", "[cuda][reduce]") {
  Tensor x = input({6, 5, 7}, 1);
  check_cuda([](const TensorList& t) { return sum(t[0]); }, {x}, "sum all");
  check_cuda([](const TensorList& t) { return mean(t[0]); }, {x}, "mean all");
  check_cuda([](const TensorList& t) { return sum(t[0], {2}); }, {x}, "sum last (rows)");
  check_cuda([](const TensorList& t) { return sum(t[0], {0}, true); }, {x}, "sum first (columns)");
  check_cuda([](const TensorList& t) { return mean(t[0], {1}); }, {x}, "mean middle");
  check_cuda([](const TensorList& t) { return sum(t[0], {0, 2}); }, {x}, "sum non-adjacent (permuted)");
  check_cuda([](const TensorList& t) { return sum(t[0].transpose(0, 2), {1}); }, {x}, "sum non-contiguous");
  check_cuda([](const TensorList& t) { return sum_to(t[0], {5, 1}); }, {x}, "sum_to");
}

TEST_CASE("cuda: long rows take the block-per-row kernels", "[cuda][reduce]") {
  Tensor row = input({3, 100000}, 2);
  check_cuda([](const TensorList& t) { return sum(t[0], {1}); }, {row}, "sum of 100000");
  check_cuda([](const TensorList& t) { return mean(t[0]); }, {row}, "mean of 300000");
  check_cuda([](const TensorList& t) { return max(t[0], 1).first; }, {row}, "max of 100000");
  check_cuda([](const TensorList& t) { return softmax(t[0], 1); }, {row}, "softmax of 100000");
  // Its gradient g - exp(y) * sum(g) cancels two terms near 1 down to ~1e-3, so one float32 ulp of
  // y (~1e-6 at y ~ -11.5) moves it by ~1e-6 on either device: both sit ~2e-6 from the float64 value.
  check_cuda([](const TensorList& t) { return log_softmax(t[0], -1); }, {row}, "log_softmax of 100000", 1e-5);
  Tensor column = input({100000, 3}, 3);
  check_cuda([](const TensorList& t) { return sum(t[0], {0}); }, {column}, "column sum of 100000");
}

// Few outputs over a long axis: the reduced axis is cut into slices whose partials a second
// launch folds (under the emulation's 4 SMs: slices once fewer than 32 blocks would run). Covers a
// row in 23 slices, columns in 32 slices, a partial 32-column tile at o > 0, many outputs (a
// thread each), and argmax ties that fall in different slices (the first index must win).
TEST_CASE("cuda: reductions cut into slices match the CPU", "[cuda][reduce]") {
  Tensor row = input({1, 100000}, 12);
  check_cuda([](const TensorList& t) { return sum(t[0]); }, {row}, "sum of 100000 (23 slices)");
  check_cuda([](const TensorList& t) { return max(t[0], 1).first; }, {row}, "max of 100000");
  Tensor columns = input({20000, 3}, 13);
  check_cuda([](const TensorList& t) { return sum(t[0], {0}); }, {columns}, "column sum, 32 slices");
  check_cuda([](const TensorList& t) { return max(t[0], 0).first; }, {columns}, "column max, 32 slices");
  Tensor tiles = input({2, 3000, 40}, 14);
  check_cuda([](const TensorList& t) { return sum(t[0], {1}); }, {tiles}, "sum over the middle, 40 columns");
  check_cuda([](const TensorList& t) { return mean(t[0], {1}); }, {tiles}, "mean over the middle, 40 columns");
  Tensor many = input({300, 10000}, 15);
  check_cuda([](const TensorList& t) { return sum(t[0], {0}); }, {many}, "10000 column sums (a thread each)");

  Tensor ties = zeros({1, 100000}, TensorOptions(kFloat64));
  ties.fill_(1.0);
  for (int64_t i : {70000, 99999, 40000}) ties.narrow(1, i, 1).fill_(7.0);
  CHECK(argmax(ties.to(cuda_device(0)), 1).to(kCPU).to_vector<int64_t>() == std::vector<int64_t>{40000});
  Tensor column_ties = zeros({20000, 2}, TensorOptions(kFloat64));
  column_ties.fill_(1.0);
  for (int64_t i : {19000, 9000, 12000}) column_ties.narrow(0, i, 1).fill_(7.0);
  CHECK(argmax(column_ties.to(cuda_device(0)), 0).to(kCPU).to_vector<int64_t>() == std::vector<int64_t>{9000, 9000});
}

TEST_CASE("cuda: max and argmax", "[cuda][reduce]") {
  Tensor x = input({7, 9, 5}, 4);
  for (int64_t d = 0; d < 3; ++d) {
    INFO("dim " << d);
    check_cuda([d](const TensorList& t) { return max(t[0], d).first; }, {x}, "max values");
    CHECK(argmax(x.detach().to(cuda_device(0)), d).to(kCPU).to_vector<int64_t>() ==
          argmax(x.detach(), d).to_vector<int64_t>());
  }
  // Ties pick the first index on both devices.
  Tensor ties = from_vector<double>({1, 3, 3, 2, 5, 5, 5, 0}, {2, 4}, kFloat64);
  CHECK(argmax(ties.to(cuda_device(0)), 1).to(kCPU).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
}

TEST_CASE("cuda: softmax and log_softmax", "[cuda][softmax]") {
  Tensor net = random_tensor({100, 10}, 5, -4, 4).set_requires_grad(true);  // the MNIST logits
  check_cuda([](const TensorList& t) { return softmax(t[0], 1); }, {net}, "softmax 100x10");
  check_cuda([](const TensorList& t) { return log_softmax(t[0], 1); }, {net}, "log_softmax 100x10");
  Tensor x = random_tensor({4, 6, 5}, 6, -3, 3).set_requires_grad(true);
  for (int64_t d = 0; d < 3; ++d) {
    INFO("dim " << d);
    check_cuda([d](const TensorList& t) { return softmax(t[0], d); }, {x}, "softmax");
    check_cuda([d](const TensorList& t) { return log_softmax(t[0], d); }, {x}, "log_softmax");
  }
  check_cuda([](const TensorList& t) { return softmax(t[0].transpose(0, 2), 2); }, {x}, "softmax non-contiguous");
  // Rows of 10 take a thread each, of 17 to 1024 a warp each (rows of 16 and 17 on either side).
  for (int64_t cols : {16, 17, 300}) {
    Tensor rows = random_tensor({50, cols}, 7 + static_cast<uint64_t>(cols), -4, 4).set_requires_grad(true);
    INFO(cols << " columns");
    check_cuda([](const TensorList& t) { return softmax(t[0], 1); }, {rows}, "softmax");
    check_cuda([](const TensorList& t) { return log_softmax(t[0], 1); }, {rows}, "log_softmax");
  }
}

TEST_CASE("cuda: cross_entropy and nll_loss", "[cuda][softmax]") {
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    INFO("reduction " << static_cast<int>(r));
    Tensor logits = random_tensor({100, 10}, 7, -4, 4).set_requires_grad(true);
    Tensor target = class_targets(100, 10, 8);
    check_cuda([r](const TensorList& t) { return cross_entropy(t[0], t[1], r); }, {logits, target}, "cross_entropy");
    check_cuda([r](const TensorList& t) { return nll_loss(log_softmax(t[0], 1), t[1], r); }, {logits, target},
               "log_softmax + nll_loss");
    Tensor wide = random_tensor({3, 5000}, 9, -4, 4).set_requires_grad(true);
    Tensor wide_target = class_targets(3, 5000, 10);
    check_cuda([r](const TensorList& t) { return cross_entropy(t[0], t[1], r); }, {wide, wide_target},
               "cross_entropy with 5000 classes");
  }
}

// Mean and sum reduce the row losses in the row kernel's launch: one block (batch 1, the Net's
// 100 rows of 10 classes), several combined by the last block (1000 rows of 10: 4 blocks, a row a
// thread; 70001: every block of the grid, many rows each; 3000 rows of 100: a row a warp).
TEST_CASE("cuda: cross_entropy mean and sum reduced in one launch", "[cuda][softmax]") {
  for (int64_t rows : {1, 100, 1000, 70001, 3000}) {
    const int64_t classes = rows == 3000 ? 100 : 10;
    Tensor logits = random_tensor({rows, classes}, 60 + static_cast<uint64_t>(rows), -4, 4).set_requires_grad(true);
    Tensor target = class_targets(rows, classes, 61);
    for (Reduction r : {Reduction::Mean, Reduction::Sum}) {
      INFO(rows << " rows of " << classes << ", reduction " << static_cast<int>(r));
      check_cuda([r](const TensorList& t) { return cross_entropy(t[0], t[1], r); }, {logits, target}, "cross_entropy");
    }
  }
  // Long rows (a block per row) reduced the same way.
  Tensor wide = random_tensor({40, 2000}, 62, -4, 4).set_requires_grad(true);
  Tensor wide_target = class_targets(40, 2000, 63);
  check_cuda([](const TensorList& t) { return cross_entropy(t[0], t[1], Reduction::Mean); }, {wide, wide_target},
             "cross_entropy with 2000 classes");
}

TEST_CASE("cuda: reduced cross_entropy is bit-identical run to run", "[cuda][softmax]") {
  // 5001 rows: 20 blocks (a row a thread) whose partials the last block to finish combines; the
  // order in which blocks finish must not matter.
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    Tensor logits = random_tensor({5001, 10}, 64, -4, 4).to(dtype).to(cuda_device(0));
    Tensor target = class_targets(5001, 10, 65).to(cuda_device(0));
    for (Reduction r : {Reduction::Mean, Reduction::Sum}) {
      const double first = cross_entropy(logits, target, r).item();
      CHECK(cross_entropy(logits, target, r).item() == first);
    }
  }
}

// float32 logits near 3e4, -1e4, 1e4 and -3e4 (random in [-4, 4] around them, every third row
// with its first logit 2e4 below the rest), where a float32 m + log(s) is rounded by the ulp of m:
// CUDA's float32 log-probabilities, probabilities, losses and gradients against the CPU's float64,
// for rows of a thread (10 classes), a warp (300) and a block (3000) and the column kernel.
// Log-probabilities and losses within 1e-5 plus the float32 spacing of the value, probabilities
// and gradients within 1e-6.
TEST_CASE("cuda: float32 softmax and cross_entropy at large logits match float64", "[cuda][softmax]") {
  const double eps = std::numeric_limits<float>::epsilon();
  auto close = [](const Tensor& cuda_f32, const Tensor& cpu_f64, double rtol, double atol, const char* what) {
    REQUIRE(cuda_f32.dtype() == kFloat32);
    REQUIRE(cuda_f32.is_cuda());
    std::string why;
    const bool ok = ember::testing::all_close(cuda_f32.to(kCPU).to(kFloat64), cpu_f64, rtol, atol, &why);
    INFO(what << ": " << why);
    CHECK(ok);
  };
  const int64_t rows = 12;
  const double offsets[] = {3e4, -1e4, 1e4, -3e4};
  for (int64_t cols : {10, 300, 3000}) {
    INFO(cols << " classes");
    std::vector<double> v = random_tensor({rows, cols}, 70 + static_cast<uint64_t>(cols), -4, 4).to_vector<double>();
    std::vector<int64_t> t(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) v[static_cast<size_t>(r * cols + c)] += offsets[r % 4];
      if (r % 3 == 0) v[static_cast<size_t>(r * cols)] -= 2e4;
      t[static_cast<size_t>(r)] = (r * 7) % cols;  // row 0: the logit 2e4 below, a loss near 2e4
    }
    const Tensor x = from_vector(v, {rows, cols}, kFloat64).to(kFloat32), x64 = x.to(kFloat64);
    const Tensor target = from_vector(t, {rows}, kInt64);
    const Tensor xc = x.to(cuda_device(0)), tc = target.to(cuda_device(0));
    const Tensor lp = log_softmax(x64, 1);
    close(log_softmax(xc, 1), lp, eps, 1e-5, "log_softmax");
    close(log_softmax(xc.t(), 0).t(), lp, eps, 1e-5, "log_softmax along dim 0");
    close(softmax(xc, 1), softmax(x64, 1), 0, 1e-6, "softmax");
    close(softmax(xc.t(), 0).t(), softmax(x64, 1), 0, 1e-6, "softmax along dim 0");
    close(cross_entropy(xc, tc, Reduction::None), cross_entropy(x64, target, Reduction::None), eps, 1e-5,
          "cross_entropy");
    close(cross_entropy(xc, tc, Reduction::Sum), cross_entropy(x64, target, Reduction::Sum), 1e-6, 1e-5,
          "cross_entropy sum");
    Tensor gc = xc.clone().set_requires_grad(true), g64 = x64.clone().set_requires_grad(true);
    cross_entropy(gc, tc, Reduction::Sum).backward();
    cross_entropy(g64, target, Reduction::Sum).backward();
    close(gc.grad(), g64.grad(), 0, 1e-6, "cross_entropy gradient");
    Tensor lc = xc.clone().set_requires_grad(true);
    nll_loss(log_softmax(lc, 1), tc, Reduction::Sum).backward();
    close(lc.grad(), g64.grad(), 0, 1e-6, "log_softmax + nll_loss gradient");
  }
}

TEST_CASE("cuda: dropout masks match the CPU bit for bit", "[cuda][dropout]") {
  Tensor x = input({1000, 37}, 11);
  check_cuda([](const TensorList& t) {
    manual_seed(123);
    return dropout(t[0], 0.3, true);
  }, {x}, "dropout");
  // A view one element into its storage takes the element-by-element path (no vector accesses);
  // 3701 - 1 elements leave a partial last counter in float64.
  Tensor flat = input({3701}, 12);
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    check_cuda([](const TensorList& t) {
      manual_seed(321);
      return dropout(t[0].narrow(0, 1, 3699), 0.5, true);
    }, {flat.to(dtype)}, "dropout of an unaligned view");
  }
}

TEST_CASE("cuda: index_select and cat", "[cuda][dropout]") {
  Tensor x = input({5, 6, 7}, 12);
  Tensor index = from_vector<int64_t>({4, 0, 4, 2}, {4}, kInt64);
  for (int64_t d = 0; d < 3; ++d) {
    INFO("dim " << d);
    check_cuda([d](const TensorList& t) { return index_select(t[0], d, t[1]); }, {x, index}, "index_select");
  }
  Tensor a = input({3, 4}, 13), b = input({3, 2}, 14);
  check_cuda([](const TensorList& t) { return cat({t[0], t[1]}, 1); }, {a, b}, "cat");
}
