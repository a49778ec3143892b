// matmul, linear, conv2d, max_pool2d and the fused ops on CUDA against the CPU reference, forward
// and backward, in float32 and float64 (the hand-written SGEMM: test_sgemm_cuda.cpp).
// Tolerances (relative, with a small absolute floor for values near 0):
//   float64: rtol 1e-10;  float32 GEMM / pool / fused: rtol 1e-4;  float32 conv: rtol 1e-3 (cuDNN
//   sums in its own order, over up to C*R*S*N*P*Q terms in backward-filter).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <ember/core/cuda_graph.h>
#include <ember/ember.h>
#include <ember/kernels/dispatch.h>
#include <ember/kernels/gemm.h>

#include <random>

#include "../support/test_support.h"

using namespace ember;
using testing::compare_cuda_with_cpu;
using testing::random_tensor;
using testing::distinct_tensor;

namespace {

Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

// Uniform in +-[0.1, 1): random signs, magnitudes away from zero.
Tensor nonzero_tensor(const Shape& sizes, uint64_t seed) {
  std::vector<double> values = random_tensor(sizes, seed, 0.1, 1.0).to_vector<double>();
  std::mt19937_64 rng(seed);
  for (double& v : values)
    if (rng() & 1) v = -v;
  return from_vector(values, sizes);
}

void check_both_dtypes(const testing::TensorFn& fn, const TensorList& inputs, double rtol32, double atol32) {
  CHECK(compare_cuda_with_cpu(fn, inputs, rtol32, atol32, kFloat32) == "");
  CHECK(compare_cuda_with_cpu(fn, inputs, 1e-10, 1e-12, kFloat64) == "");
}

}  // namespace

TEST_CASE("cuda matmul matches the CPU, 2-d, transposed, batched and broadcast", "[linear][cuda]") {
  Tensor a = leaf(nonzero_tensor({33, 17}, 1)), b = leaf(nonzero_tensor({17, 29}, 2));
  check_both_dtypes([](const TensorList& in) { return matmul(in[0], in[1]); }, {a, b}, 1e-4, 1e-5);
  Tensor bt = leaf(nonzero_tensor({29, 17}, 3));
  check_both_dtypes([](const TensorList& in) { return matmul(in[0], in[1].t()); }, {a, bt}, 1e-4, 1e-5);
  Tensor ba = leaf(nonzero_tensor({3, 9, 5}, 4)), bb = leaf(nonzero_tensor({3, 5, 11}, 5));
  check_both_dtypes([](const TensorList& in) { return matmul(in[0], in[1]); }, {ba, bb}, 1e-4, 1e-5);
  // A matrix times a stack (batch stride 0 in the GEMM) and two batches that broadcast (folded by a copy).
  Tensor m = leaf(nonzero_tensor({9, 5}, 6));
  check_both_dtypes([](const TensorList& in) { return matmul(in[0], in[1]); }, {m, bb}, 1e-4, 1e-5);
  Tensor b4 = leaf(nonzero_tensor({2, 1, 9, 5}, 7));
  check_both_dtypes([](const TensorList& in) { return matmul(in[0], in[1]); }, {b4, bb}, 1e-4, 1e-5);
}

TEST_CASE("cuda linear matches the CPU, with and without bias", "[linear][cuda]") {
  Tensor x = leaf(nonzero_tensor({100, 320}, 1)), w = leaf(nonzero_tensor({50, 320}, 2)), b = leaf(nonzero_tensor({50}, 3));
  check_both_dtypes([](const TensorList& in) { return linear(in[0], in[1], in[2]); }, {x, w, b}, 1e-4, 1e-4);
  check_both_dtypes([](const TensorList& in) { return linear(in[0], in[1]); }, {x, w}, 1e-4, 1e-4);
}

// linear with a bias and linear_relu: one cuBLASLt call with a bias (+ relu) epilogue, or the unfused
// fallback where Lt refuses the key (perhaps float64, odd alignments); forward and all gradients.
TEST_CASE("cuda linear with a bias and linear_relu (cuBLASLt epilogues) match the CPU", "[linear][fused][cuda]") {
  struct Case {
    int64_t rows, in, out;
  };
  // The Net's fc1 and fc2, one row, odd sizes, one output feature.
  for (const Case& c : {Case{100, 320, 50}, Case{100, 50, 10}, Case{1, 13, 7}, Case{7, 13, 5}, Case{9, 4, 1}}) {
    INFO("x [" << c.rows << ", " << c.in << "] -> " << c.out);
    const uint64_t seed = static_cast<uint64_t>(c.rows * 1000 + c.in * 10 + c.out);
    Tensor x = leaf(nonzero_tensor({c.rows, c.in}, seed)), w = leaf(nonzero_tensor({c.out, c.in}, seed + 1));
    Tensor b = leaf(nonzero_tensor({c.out}, seed + 2));
    check_both_dtypes([](const TensorList& in) { return linear(in[0], in[1], in[2]); }, {x, w, b}, 1e-4, 1e-4);
    check_both_dtypes([](const TensorList& in) { return linear_relu(in[0], in[1], in[2]); }, {x, w, b}, 1e-4, 1e-4);
    // A bias without a gradient, and a transposed (non-contiguous) x.
    Tensor frozen_b = b.detach();
    check_both_dtypes([](const TensorList& in) { return linear_relu(in[0], in[1], in[2]); }, {x, w, frozen_b}, 1e-4,
                      1e-4);
    Tensor xt = leaf(nonzero_tensor({c.in, c.rows}, seed + 3));
    check_both_dtypes([](const TensorList& in) { return linear(in[0].t(), in[1], in[2]); }, {xt, w, b}, 1e-4, 1e-4);
    check_both_dtypes([](const TensorList& in) { return linear_relu(in[0].t(), in[1], in[2]); }, {xt, w, b}, 1e-4,
                      1e-4);
  }
}

TEST_CASE("cuda linear_relu with misaligned views and an empty batch matches the CPU", "[linear][fused][cuda]") {
  // Offsets of one element: x rows with a leading dimension of 321, a bias 4 bytes past its allocation.
  Tensor x = leaf(nonzero_tensor({100, 321}, 61)), w = leaf(nonzero_tensor({50, 320}, 62));
  Tensor b = leaf(nonzero_tensor({51}, 63));
  check_both_dtypes([](const TensorList& in) { return linear_relu(in[0].slice(1, 1, 321), in[1], in[2].slice(0, 1, 51)); },
                    {x, w, b}, 1e-4, 1e-4);
  check_both_dtypes([](const TensorList& in) { return linear(in[0].slice(1, 1, 321), in[1], in[2].slice(0, 1, 51)); },
                    {x, w, b}, 1e-4, 1e-4);
  Tensor none = leaf(nonzero_tensor({0, 320}, 64)), b50 = leaf(nonzero_tensor({50}, 65));
  check_both_dtypes([](const TensorList& in) { return linear_relu(in[0], in[1], in[2]); }, {none, w, b50}, 1e-4, 1e-4);
}

// The kernel under LinearBackward's dW and db: one cuBLASLt call with the BGRADB epilogue, or the GEMM
// and the sum kernel where Lt declines the key (float64 under the emulation, odd alignments, K = 0).
TEST_CASE("cuda gemm_bias_grad (cuBLASLt BGRADB) matches the CPU at any layout", "[linear][fused][cuda]") {
  Device dev = cuda_device(0);
  struct Case {
    const char* what;
    int64_t K, M, N;
    bool transposed_a;  // a = g^T of a contiguous g (K, M), as LinearBackward passes it
    int64_t offset;     // elements cut from the start of a's and b's storage: misaligned pointers
  };
  for (const Case& c : {Case{"the Net's fc2: g^T @ x", 100, 10, 50, true, 0}, Case{"fc1", 100, 50, 320, true, 0},
                        Case{"odd sizes", 7, 5, 3, true, 0}, Case{"row-major a", 9, 6, 4, false, 0},
                        Case{"misaligned by one element", 13, 11, 7, true, 1}, Case{"K = 0", 0, 4, 3, true, 0},
                        Case{"N = 0", 8, 4, 0, true, 0}}) {
    INFO(c.what);
    for (DType dtype : {kFloat32, kFloat64}) {
      INFO("dtype " << dtype_name(dtype));
      const uint64_t seed = static_cast<uint64_t>(c.K * 100 + c.M * 10 + c.N);
      // Storage with `offset` spare elements in front; a and b are views starting after them.
      const Tensor a_storage = nonzero_tensor({c.M * c.K + c.offset}, seed).to(dtype);
      const Tensor b_storage = nonzero_tensor({c.K * c.N + c.offset}, seed + 1).to(dtype);
      auto views = [&](const Tensor& as, const Tensor& bs) {
        const Tensor a_flat = as.slice(0, c.offset, as.size(0)), b_flat = bs.slice(0, c.offset, bs.size(0));
        const Tensor a = c.transposed_a ? a_flat.view({c.K, c.M}).t() : a_flat.view({c.M, c.K});
        return std::make_pair(a, b_flat.view({c.K, c.N}));
      };
      const auto [a_cpu, b_cpu] = views(a_storage, b_storage);
      const auto [a_gpu, b_gpu] = views(a_storage.to(dev), b_storage.to(dev));
      Tensor c_cpu = empty({c.M, c.N}, dtype), bias_cpu = empty({c.M}, dtype);
      Tensor c_gpu = full({c.M, c.N}, 7.0, TensorOptions(dtype).with_device(dev));  // stale values must go
      Tensor bias_gpu = full({c.M}, 7.0, TensorOptions(dtype).with_device(dev));
      kernels::cpu::gemm_bias_grad(a_cpu, b_cpu, c_cpu, bias_cpu);
      EMBER_KERNEL(dev, gemm_bias_grad, a_gpu, b_gpu, c_gpu, bias_gpu);  // kernels::cuda:: (links without CUDA)
      const double tol = dtype == kFloat32 ? 1e-4 : 1e-10;
      std::string why_c, why_bias;
      const bool c_close = testing::all_close(c_gpu.to(kCPU), c_cpu, tol, tol, &why_c);
      const bool bias_close = testing::all_close(bias_gpu.to(kCPU), bias_cpu, tol, tol, &why_bias);
      INFO("c: " << why_c << " bias_grad: " << why_bias);
      CHECK(c_close);
      CHECK(bias_close);
    }
  }
}

TEST_CASE("cuda linear_relu replays in a CUDA graph (its first call with a shape inside the capture)",
          "[linear][fused][cuda][graph]") {
  cuda::StreamGuard guard(cuda::create_stream(0));
  Device dev = cuda_device(0);
  // Warm-up outside the capture with another shape (creates the handles); the captured shape's
  // algorithm is chosen during the capture.
  linear_relu(random_tensor({3, 5}, 70, -1, 1, kFloat32).to(dev), random_tensor({2, 5}, 71, -1, 1, kFloat32).to(dev),
              random_tensor({2}, 72, -1, 1, kFloat32).to(dev));
  Tensor x = random_tensor({37, 19}, 73, -1, 1, kFloat32).to(dev), w = random_tensor({11, 19}, 74, -1, 1, kFloat32).to(dev);
  Tensor b = random_tensor({11}, 75, -1, 1, kFloat32).to(dev), w2 = random_tensor({11, 11}, 76, -1, 1, kFloat32).to(dev);
  Tensor y = empty({37, 11}, TensorOptions(kFloat32).with_device(dev));
  cuda::Graph graph;
  graph.capture_begin();
  {
    NoGradGuard no_grad;
    y.copy_(linear(linear_relu(x, w, b), w2.t(), b));  // then a transposed weight
  }
  graph.capture_end();
  for (uint64_t seed = 77; seed < 80; ++seed) {
    Tensor fresh = random_tensor({37, 19}, seed, -1, 1, kFloat32);
    x.copy_(fresh);
    graph.replay();
    Tensor wc = w.to(kCPU), bc = b.to(kCPU), w2c = w2.to(kCPU);
    Tensor expected = linear(linear_relu(fresh, wc, bc), w2c.t(), bc);
    std::string why;
    const bool close = testing::all_close(y.to(kCPU), expected, 1e-4, 1e-5, &why);
    INFO(why);
    CHECK(close);
  }
}

TEST_CASE("cuda linear/matmul reject mixed devices", "[linear][cuda]") {
  Tensor a = random_tensor({2, 3}, 1), b = random_tensor({3, 2}, 2).to(cuda_device(0));
  CHECK_THROWS_WITH(matmul(a, b), Catch::Contains("matmul: expected all tensors on one device"));
  CHECK_THROWS_WITH(linear(a, random_tensor({4, 3}, 2).to(cuda_device(0))), Catch::Contains("linear"));
  CHECK_THROWS_WITH(conv2d(random_tensor({1, 1, 5, 5}, 1), random_tensor({1, 1, 3, 3}, 2).to(cuda_device(0))),
                    Catch::Contains("conv2d: expected all tensors on one device"));
}

TEST_CASE("cuda conv2d (cuDNN) matches the CPU: stride, padding, dilation, bias", "[conv][cuda]") {
  struct Case {
    Shape x, w;
    std::array<int64_t, 2> stride, padding, dilation;
    bool bias;
  };
  std::vector<Case> cases = {
      {{100, 1, 28, 28}, {10, 1, 5, 5}, {1, 1}, {0, 0}, {1, 1}, true},    // the Net's conv1
      {{100, 10, 12, 12}, {20, 10, 5, 5}, {1, 1}, {0, 0}, {1, 1}, true},  // the Net's conv2
      {{2, 3, 9, 8}, {4, 3, 3, 3}, {2, 1}, {1, 2}, {1, 1}, false},
      {{3, 2, 11, 10}, {5, 2, 3, 2}, {1, 2}, {2, 1}, {2, 2}, true},
  };
  // Both ways of choosing cuDNN's algorithm: its heuristics, and timing every algorithm.
  const bool benchmark = GENERATE(false, true);
  cuda::set_cudnn_benchmark(benchmark);
  INFO("cudnn benchmark " << benchmark);
  int i = 0;
  for (const Case& c : cases) {
    INFO("case " << i);
    Conv2dParams params;
    params.stride = c.stride;
    params.padding = c.padding;
    params.dilation = c.dilation;
    Tensor x = leaf(nonzero_tensor(c.x, 10 + i)), w = leaf(nonzero_tensor(c.w, 20 + i));
    if (c.bias) {
      Tensor b = leaf(nonzero_tensor({c.w[0]}, 30 + i));
      check_both_dtypes([params](const TensorList& in) { return conv2d(in[0], in[1], in[2], params); }, {x, w, b},
                        1e-3, 1e-4);
    } else {
      check_both_dtypes([params](const TensorList& in) { return conv2d(in[0], in[1], Tensor(), params); }, {x, w},
                        1e-3, 1e-4);
    }
    ++i;
  }
  cuda::set_cudnn_benchmark(false);
}

TEST_CASE("cuda conv2d with TF32 allowed matches the CPU to TF32 accuracy, and strict FP32 comes back",
          "[conv][cuda]") {
  // The Net's conv2: 250 products per output. TF32 keeps 10 mantissa bits of each input (relative
  // error 2^-11 per input), so outputs and gradients agree to ~1e-2 relative, not FP32's 1e-4.
  Conv2dParams params;
  Tensor x = leaf(nonzero_tensor({100, 10, 12, 12}, 41)), w = leaf(nonzero_tensor({20, 10, 5, 5}, 42));
  Tensor b = leaf(nonzero_tensor({20}, 43));
  auto conv = [params](const TensorList& in) { return conv2d(in[0], in[1], in[2], params); };
  const bool benchmark = GENERATE(false, true);
  INFO("cudnn benchmark " << benchmark);
  cuda::set_cudnn_benchmark(benchmark);
  cuda::set_cudnn_allow_tf32(true);
  CHECK(cuda::cudnn_allow_tf32());
  std::string why = testing::compare_cuda_with_cpu(conv, {x, w, b}, 2e-2, 2e-2);
  INFO(why);
  CHECK(why.empty());
  // Back to strict FP32: the algorithms are chosen again (cached per setting), at FP32 tolerance.
  cuda::set_cudnn_allow_tf32(false);
  why = testing::compare_cuda_with_cpu(conv, {x, w, b}, 1e-3, 1e-4);
  INFO(why);
  CHECK(why.empty());
  cuda::set_cudnn_benchmark(false);
}

TEST_CASE("cuda max_pool2d matches the CPU, overlapping (atomic) and disjoint windows", "[pool][cuda]") {
  Tensor x = leaf(distinct_tensor({4, 3, 24, 24}, 1));
  check_both_dtypes([](const TensorList& in) { return max_pool2d(in[0], {2, 2}); }, {x}, 1e-4, 1e-6);
  check_both_dtypes([](const TensorList& in) { return max_pool2d(in[0], {3, 3}, {1, 2}, {1, 1}); }, {x}, 1e-4, 1e-6);
  check_both_dtypes([](const TensorList& in) { return max_pool2d(in[0], {2, 3}, {3, 2}, {1, 0}); }, {x}, 1e-4, 1e-6);
  check_both_dtypes([](const TensorList& in) { return max_pool2d(in[0].transpose(2, 3), {2, 2}); }, {x}, 1e-4, 1e-6);
  // Disjoint windows (the gathering backward) with gaps, padding, and rows/columns in no window.
  check_both_dtypes([](const TensorList& in) { return max_pool2d(in[0], {2, 2}, {3, 3}, {1, 1}); }, {x}, 1e-4, 1e-6);
  Tensor odd = leaf(distinct_tensor({2, 3, 25, 23}, 2));
  check_both_dtypes([](const TensorList& in) { return max_pool2d(in[0], {2, 2}); }, {odd}, 1e-4, 1e-6);
  check_both_dtypes([](const TensorList& in) { return max_pool2d(in[0], {3, 2}, {4, 2}, {1, 0}); }, {odd}, 1e-4, 1e-6);
}

TEST_CASE("cuda bias_relu and max_pool2d_relu match the CPU", "[fused][cuda]") {
  Tensor x4 = leaf(distinct_tensor({100, 20, 8, 8}, 1)), b20 = leaf(nonzero_tensor({20}, 2));
  check_both_dtypes([](const TensorList& in) { return bias_relu(in[0], in[1]); }, {x4, b20}, 1e-4, 1e-5);
  Tensor x2 = leaf(distinct_tensor({100, 50}, 3)), b50 = leaf(nonzero_tensor({50}, 4));
  check_both_dtypes([](const TensorList& in) { return bias_relu(in[0], in[1]); }, {x2, b50}, 1e-4, 1e-5);
  // 36000 values a channel: several blocks per channel, summed atomically (the cases above use one).
  Tensor xl = leaf(distinct_tensor({40, 3, 30, 30}, 7)), b3 = leaf(nonzero_tensor({3}, 8));
  check_both_dtypes([](const TensorList& in) { return bias_relu(in[0], in[1]); }, {xl, b3}, 1e-4, 1e-4);
  // Channels under 32 values apart (a Linear's (N, C); inner 3) read as matrix columns: 5000 rows
  // cut into 16 slices (the emulation's 4 SMs) whose sums a second launch folds per channel, and
  // without a bias gradient (bias without requires_grad: grad_x alone).
  Tensor xr = leaf(distinct_tensor({5000, 40}, 9)), b40 = leaf(nonzero_tensor({40}, 10));
  check_both_dtypes([](const TensorList& in) { return bias_relu(in[0], in[1]); }, {xr, b40}, 1e-4, 1e-4);
  Tensor xi = leaf(distinct_tensor({2000, 5, 3}, 11)), b5 = leaf(nonzero_tensor({5}, 12));
  check_both_dtypes([](const TensorList& in) { return bias_relu(in[0], in[1]); }, {xi, b5}, 1e-4, 1e-4);
  Tensor b40_fixed = nonzero_tensor({40}, 13);
  check_both_dtypes([](const TensorList& in) { return bias_relu(in[0], in[1]); }, {xr, b40_fixed}, 1e-4, 1e-4);
  Tensor xp = leaf(distinct_tensor({10, 10, 24, 24}, 5));
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}); }, {xp}, 1e-4, 1e-6);
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {3, 2}); }, {xp}, 1e-4, 1e-6);
  // With a convolution's bias folded in (the Net's conv blocks): gradients of x and of the bias.
  Tensor b10 = leaf(nonzero_tensor({10}, 6));
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}, in[1]); }, {xp, b10}, 1e-4, 1e-5);
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {3, 2}, in[1]); }, {xp, b10}, 1e-4, 1e-5);
}

// As on the CPU (and in PyTorch), every relu lets NaN through, with its gradient.
TEST_CASE("cuda relu, bias_relu and max_pool2d_relu let NaN through", "[fused][cuda]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = from_vector<double>({nan, -1.0, 2.0, -3.0}, {1, 1, 2, 2}).to(kFloat32).to(cuda_device(0)).set_requires_grad(true);
  Tensor b = from_vector<double>({0.5}, {1}).to(kFloat32).to(cuda_device(0)).set_requires_grad(true);
  for (int variant = 0; variant < 3; ++variant) {
    INFO("variant " << variant);
    Tensor y = variant == 0 ? relu(x) : variant == 1 ? bias_relu(x, b) : max_pool2d_relu(x, {2, 2}, b);
    CHECK(std::isnan(y.to(kCPU).to(kFloat64).to_vector<double>()[0]));
    sum(y).backward();
    CHECK(x.grad().to(kCPU).to(kFloat64).to_vector<double>()[0] == 1.0);
    x.set_grad(Tensor());
    b.set_grad(Tensor());
  }
}

// The fused pool + bias + relu's backward in one launch (max_pool2d_backward_with_bias): several
// blocks per channel whose bias partials the last block combines, or one block per channel.
TEST_CASE("cuda max_pool2d_relu with a bias: one-launch backward at the Net's and odd shapes", "[pool][fused][cuda]") {
  // The Net's two conv blocks (100 x 10 x 24x24 -> 12x12, 100 x 20 x 8x8 -> 4x4).
  Tensor x1 = leaf(distinct_tensor({100, 10, 24, 24}, 41)), b10 = leaf(nonzero_tensor({10}, 42));
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}, in[1]); }, {x1, b10}, 1e-4, 1e-4);
  Tensor x2 = leaf(distinct_tensor({100, 20, 8, 8}, 43)), b20 = leaf(nonzero_tensor({20}, 44));
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}, in[1]); }, {x2, b20}, 1e-4, 1e-4);
  // H and W not multiples of the kernel: the last rows and columns lie in no window (gradient 0).
  Tensor odd = leaf(distinct_tensor({3, 4, 25, 23}, 45)), b4 = leaf(nonzero_tensor({4}, 46));
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}, in[1]); }, {odd, b4}, 1e-4, 1e-5);
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {3, 4}, in[1]); }, {odd, b4}, 1e-4, 1e-5);
  // Many blocks per channel (2 channels of 64 x 31x30 inputs), and a single image (batch 1).
  Tensor many = leaf(distinct_tensor({64, 2, 31, 30}, 47)), b2 = leaf(nonzero_tensor({2}, 48));
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}, in[1]); }, {many, b2}, 1e-4, 1e-4);
  Tensor one = leaf(distinct_tensor({1, 5, 13, 11}, 49)), b5 = leaf(nonzero_tensor({5}, 50));
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 3}, in[1]); }, {one, b5}, 1e-4, 1e-5);
  // Only the bias wants a gradient.
  Tensor frozen = distinct_tensor({100, 10, 24, 24}, 41);
  check_both_dtypes([](const TensorList& in) { return max_pool2d_relu(in[0], {2, 2}, in[1]); }, {frozen, b10}, 1e-4,
                    1e-4);
}

TEST_CASE("cuda max_pool2d_relu with a bias: gradients are bit-identical run to run", "[pool][fused][cuda]") {
  // The CUDA-graph == eager test relies on it: the bias partials are summed in a fixed order,
  // whichever block finishes last.
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    Tensor x = distinct_tensor({100, 10, 24, 24}, 51).to(dtype).to(cuda_device(0));
    Tensor b = nonzero_tensor({10}, 52).to(dtype).to(cuda_device(0));
    Tensor g = random_tensor({100, 10, 12, 12}, 53, -1.0, 1.0).to(dtype).to(cuda_device(0));
    auto run = [&] {
      Tensor xr = leaf(x.clone()), br = leaf(b.clone());
      max_pool2d_relu(xr, {2, 2}, br).backward(g);
      std::vector<double> values = xr.grad().to(kCPU).to_vector<double>(), bias = br.grad().to(kCPU).to_vector<double>();
      values.insert(values.end(), bias.begin(), bias.end());
      return values;
    };
    const std::vector<double> first = run();
    CHECK(run() == first);
  }
}
