// The hand-written SGEMM (kernels/cuda/sgemm.cu, sgemm_steps.cu) against cuBLAS (matmul on CUDA):
// the production entry, every step of the ladder in docs/perf-notes.md, every block tile in
// kernels::kSgemmTiles and every warp-tiled configuration in kernels::kSgemmWarpTiles, at aligned
// sizes (the unchecked fast paths), odd ones (the edges) and unaligned pointers (the checked path).
//
// Tolerance: all are FP32 sums of K products in some order, so they differ from cuBLAS by rounding
// alone, which grows with K. With inputs of magnitude <= 1 every |C| <= K; we allow
// |c - c_cublas| <= 1e-6 * K + 1e-5 * |c_cublas|, about ten times the largest difference two FP32
// summation orders give on random inputs, and far below the O(1) error of a missing or repeated
// product (a wrong tile index, a lost slice of K, a race on shared memory).
#include <catch2/catch.hpp>

#include <ember/ember.h>
#include <ember/kernels/gemm.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "../support/test_support.h"

using namespace ember;
using testing::random_tensor;

namespace {

struct Size {
  int64_t M, N, K;
};

// float32 on cuda:0, uniform in +-[0.1, 1): random signs, magnitudes away from zero.
Tensor nonzero_cuda(const Shape& sizes, uint64_t seed) {
  std::vector<double> values = random_tensor(sizes, seed, 0.1, 1.0).to_vector<double>();
  std::mt19937_64 rng(seed);
  for (double& v : values)
    if (rng() & 1) v = -v;
  return from_vector(values, sizes).to(kFloat32).to(cuda_device(0));
}

// Runs `sgemm(a, b, c)` at each size and compares c with cuBLAS within the tolerance above.
template <typename Sgemm>
void check_against_cublas(const std::vector<Size>& sizes, Sgemm sgemm) {
  uint64_t seed = 1;
  for (Size s : sizes) {
    INFO("M " << s.M << " N " << s.N << " K " << s.K);
    Tensor a = nonzero_cuda({s.M, s.K}, seed++), b = nonzero_cuda({s.K, s.N}, seed++);
    // Filled with NaN first: an element the kernel fails to write cannot pass.
    Tensor c = full({s.M, s.N}, std::nan(""), TensorOptions(kFloat32).with_device(cuda_device(0)));
    sgemm(a, b, c);
    Tensor expected = matmul(a, b);  // cuBLAS, FP32 (no TF32)
    std::string why;
    const bool close = testing::all_close(c.to(kCPU), expected.to(kCPU), 1e-5, 1e-6 * static_cast<double>(s.K), &why);
    INFO(why);
    CHECK(close);
  }
}

// Aligned to every tile (the fast paths), odd (every edge check), and one that is aligned in M and N
// but not in K (the checked path with full tiles).
const std::vector<Size> kLadderSizes = {{256, 384, 128}, {97, 131, 45}, {128, 128, 20}, {1, 1, 1}};

}  // namespace

TEST_CASE("hand-written SGEMM matches cuBLAS at odd and aligned sizes", "[linear][cuda][sgemm]") {
  for (Size s : {Size{129, 67, 33}, Size{1, 1, 1}, Size{128, 128, 8}, Size{512, 512, 512}, Size{300, 257, 1000},
                 Size{256, 384, 100}}) {
    INFO("M " << s.M << " N " << s.N << " K " << s.K);
    Tensor a = random_tensor({s.M, s.K}, 1, -1, 1, kFloat32).to(cuda_device(0));
    Tensor b = random_tensor({s.K, s.N}, 2, -1, 1, kFloat32).to(cuda_device(0));
    Tensor c = empty({s.M, s.N}, TensorOptions(kFloat32).with_device(cuda_device(0)));
    kernels::sgemm_tiled(a, b, c);
    Tensor expected = matmul(a, b);  // cuBLAS
    std::string why;
    bool close = testing::all_close(c.to(kCPU), expected.to(kCPU), 1e-4, 1e-4, &why);
    INFO(why);
    CHECK(close);
  }
}

TEST_CASE("every step of the SGEMM ladder matches cuBLAS", "[linear][cuda][sgemm]") {
  for (int step = 0; step < kernels::kSgemmSteps; ++step) {
    INFO("step " << step);
    check_against_cublas(kLadderSizes, [step](const Tensor& a, const Tensor& b, const Tensor& c) {
      kernels::sgemm_step(step, a, b, c);
    });
  }
  Tensor a = nonzero_cuda({4, 4}, 1), c = empty({4, 4}, TensorOptions(kFloat32).with_device(cuda_device(0)));
  CHECK_THROWS_AS(kernels::sgemm_step(kernels::kSgemmSteps, a, a, c), Error);
  CHECK_THROWS_AS(kernels::sgemm_step(-1, a, a, c), Error);
}

TEST_CASE("every SGEMM block tile matches cuBLAS", "[linear][cuda][sgemm]") {
  for (const kernels::SgemmTile& tile : kernels::kSgemmTiles) {
    INFO("tile " << kernels::sgemm_tile_name(tile));
    // The sizes above plus two that are multiples of this tile in M and N (fast path, several blocks
    // each way, K a few slices long) and one block short by one in each direction.
    std::vector<Size> sizes = kLadderSizes;
    sizes.push_back({2 * tile.bm, 3 * tile.bn, 4 * tile.bk});
    sizes.push_back({2 * tile.bm - 1, 3 * tile.bn - 1, 4 * tile.bk - 1});
    check_against_cublas(sizes, [tile](const Tensor& a, const Tensor& b, const Tensor& c) {
      kernels::sgemm_tiled(tile, a, b, c);
    });
  }
  Tensor a = nonzero_cuda({4, 4}, 1), c = empty({4, 4}, TensorOptions(kFloat32).with_device(cuda_device(0)));
  CHECK_THROWS_AS(kernels::sgemm_tiled(kernels::SgemmTile{96, 96, 8, 1}, a, a, c), Error);
}

TEST_CASE("hand-written SGEMM with K = 0 writes zeros, with M or N = 0 nothing", "[linear][cuda][sgemm]") {
  auto options = TensorOptions(kFloat32).with_device(cuda_device(0));
  for (int step = 0; step < kernels::kSgemmSteps; ++step) {
    INFO("step " << step);
    Tensor a = empty({5, 0}, options), b = empty({0, 7}, options), c = full({5, 7}, 3.0, options);
    kernels::sgemm_step(step, a, b, c);
    std::vector<double> values = c.to(kCPU).to_vector<double>();
    CHECK(std::all_of(values.begin(), values.end(), [](double v) { return v == 0.0; }));
    Tensor a0 = empty({0, 3}, options), b0 = nonzero_cuda({3, 7}, 2), c0 = empty({0, 7}, options);
    kernels::sgemm_step(step, a0, b0, c0);  // no launch (a grid of 0 blocks would be an error)
  }
  ember::cuda::synchronize(0);
}

// Sizes whose tile rounding would overflow the kernels' int indices are refused before any launch
// (K = 2^31 - 1 once ran no k loop at all and left C zero). The pointers are never read. The raw
// kernels exist only in builds with CUDA.
#ifdef EMBER_WITH_CUDA
TEST_CASE("hand-written SGEMM refuses sizes past its int indices", "[linear][cuda][sgemm]") {
  const int64_t huge = INT32_MAX;
  float* none = nullptr;
  CHECK_THROWS_WITH(kernels::cuda::sgemm_tiled(1, 1, huge, none, none, none), Catch::Contains("sizes out of range"));
  CHECK_THROWS_WITH(kernels::cuda::sgemm_warptile(kernels::kSgemmWarpTiles[0], 1, huge, 1, none, none, none),
                    Catch::Contains("sizes out of range"));
  CHECK_THROWS_WITH(kernels::cuda::sgemm_steps::shared_tiles(1, 1, huge - 20, none, none, none),
                    Catch::Contains("sizes out of range"));
}
#endif

namespace {

// SGEMM on views whose data starts `offset` floats into their storage: offset 1 makes every
// pointer 4 mod 16 bytes, which must take the checked path whatever the sizes.
template <typename Sgemm>
void check_offset_against_cublas(Size s, int64_t offset, uint64_t seed, Sgemm sgemm) {
  INFO("M " << s.M << " N " << s.N << " K " << s.K << " offset " << offset);
  auto options = TensorOptions(kFloat32).with_device(cuda_device(0));
  Tensor a = nonzero_cuda({offset + s.M * s.K}, seed).narrow(0, offset, s.M * s.K).view({s.M, s.K});
  Tensor b = nonzero_cuda({offset + s.K * s.N}, seed + 1).narrow(0, offset, s.K * s.N).view({s.K, s.N});
  Tensor c = full({offset + s.M * s.N}, std::nan(""), options).narrow(0, offset, s.M * s.N).view({s.M, s.N});
  sgemm(a, b, c);
  Tensor expected = matmul(a.contiguous(), b.contiguous());
  std::string why;
  const bool close = testing::all_close(c.to(kCPU), expected.to(kCPU), 1e-5, 1e-6 * static_cast<double>(s.K), &why);
  INFO(why);
  CHECK(close);
}

}  // namespace

TEST_CASE("every warp-tiled SGEMM configuration matches cuBLAS", "[linear][cuda][sgemm]") {
  for (const kernels::SgemmWarpTile& config : kernels::kSgemmWarpTiles) {
    INFO("config " << kernels::sgemm_warp_tile_name(config));
    auto sgemm = [config](const Tensor& a, const Tensor& b, const Tensor& c) {
      kernels::sgemm_warptile(config, a, b, c);
    };
    // Aligned to the block tile (fast path; several blocks each way, several slices of K), odd
    // (every edge), one block short by one in each direction, and aligned in M and N but not in K.
    const std::vector<Size> sizes = {{256, 256, 256},
                                     {512, 384, 128},
                                     {1, 1, 1},
                                     {129, 67, 33},
                                     {1000, 17, 515},
                                     {2 * config.bm - 1, 3 * config.bn - 1, 4 * config.bk - 1},
                                     {128, 128, 20}};
    uint64_t seed = 100;
    for (Size s : sizes) check_offset_against_cublas(s, 0, seed += 2, sgemm);
    // Unaligned pointers at aligned and odd sizes: the checked path.
    for (Size s : {Size{256, 256, 64}, Size{129, 67, 33}}) check_offset_against_cublas(s, 1, seed += 2, sgemm);
  }
  Tensor a = nonzero_cuda({4, 4}, 1), c = empty({4, 4}, TensorOptions(kFloat32).with_device(cuda_device(0)));
  const kernels::SgemmWarpTile unknown{128, 128, 8, 64, 64, 1, 1, 1};
  CHECK_THROWS_AS(kernels::sgemm_warptile(unknown, a, a, c), Error);
}

TEST_CASE("warp-tiled SGEMM with K = 0 writes zeros, with M or N = 0 nothing", "[linear][cuda][sgemm]") {
  auto options = TensorOptions(kFloat32).with_device(cuda_device(0));
  for (const kernels::SgemmWarpTile& config : kernels::kSgemmWarpTiles) {
    INFO("config " << kernels::sgemm_warp_tile_name(config));
    Tensor a = empty({5, 0}, options), b = empty({0, 7}, options), c = full({5, 7}, 3.0, options);
    kernels::sgemm_warptile(config, a, b, c);
    std::vector<double> values = c.to(kCPU).to_vector<double>();
    CHECK(std::all_of(values.begin(), values.end(), [](double v) { return v == 0.0; }));
    // Empty outputs that are views of a larger tensor: nothing of it may be written.
    Tensor a0 = nonzero_cuda({5, 3}, 2), b0 = nonzero_cuda({3, 7}, 3), c0 = full({5, 7}, 3.0, options);
    kernels::sgemm_warptile(config, a0.narrow(0, 0, 0), b0, c0.narrow(0, 0, 0));
    kernels::sgemm_warptile(config, a0, b0.narrow(1, 0, 0), c0.narrow(1, 0, 0).contiguous());
    std::vector<double> untouched = c0.to(kCPU).to_vector<double>();
    CHECK(std::all_of(untouched.begin(), untouched.end(), [](double v) { return v == 3.0; }));
  }
  ember::cuda::synchronize(0);
}
