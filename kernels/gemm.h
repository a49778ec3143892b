// GEMM kernels: C = alpha * A @ B + beta * C for row-major 2-D matrices or 3-D batches of them.
// OpenBLAS on the CPU, cuBLAS on the GPU, plus Ember's hand-written CUDA SGEMM (kernels/cuda/sgemm.cu).
//
// Operands may be plain row-major matrices or transposed views of them (what .t() / transpose(-2, -1)
// give): the kernels read the strides and pass a transpose flag to BLAS instead of copying. Anything
// else (e.g. a slice with a non-unit inner stride) must be made contiguous by the caller first;
// gemm_operand_ok() says which is which. C must be contiguous.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include <ember/core/tensor.h>
#include <ember/kernels/reduce.h>

namespace ember::kernels {

// How a (rows x cols) matrix with strides (row_stride, col_stride) is stored for BLAS: row-major
// with leading dimension ld, or the row-major transpose of a (cols x rows) matrix with leading
// dimension ld (transposed = true).
struct MatrixLayout {
  bool valid = false;
  bool transposed = false;
  int64_t ld = 1;
};

inline MatrixLayout matrix_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  // An empty matrix is never read (gemm returns early or writes the empty sum), whatever its
  // strides; a leading dimension of at least max(cols, 1) is what BLAS would ask of it.
  if (rows == 0 || cols == 0) return {true, false, std::max<int64_t>(cols, 1)};
  // Size-1 dimensions never step, so their stride is irrelevant.
  if ((cols == 1 || col_stride == 1) && (rows == 1 || row_stride >= std::max<int64_t>(cols, 1)))
    return {true, false, rows == 1 ? std::max<int64_t>(cols, 1) : row_stride};
  if ((rows == 1 || row_stride == 1) && (cols == 1 || col_stride >= std::max<int64_t>(rows, 1)))
    return {true, true, cols == 1 ? std::max<int64_t>(rows, 1) : col_stride};
  return {};
}

// The layout of the last two dims of t (2-D or 3-D).
inline MatrixLayout matrix_layout(const Tensor& t) {
  int64_t d = t.dim();
  return matrix_layout(t.size(d - 2), t.size(d - 1), t.stride(d - 2), t.stride(d - 1));
}

// Whether t can be handed to gemm() as it is.
inline bool gemm_operand_ok(const Tensor& t) { return matrix_layout(t).valid; }

#define EMBER_GEMM_KERNELS                                                                     \
  /* c = alpha * a @ b + beta * c. a (M, K), b (K, N), c (M, N) contiguous; or all 3-D with a \
     batch dim first (a and b may have batch stride 0). One dtype, float32 or float64. */      \
  void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta);
namespace cpu { EMBER_GEMM_KERNELS }
namespace cuda { EMBER_GEMM_KERNELS }
#undef EMBER_GEMM_KERNELS

// GEMM with a bias and an optional relu: what linear and linear_relu need, in one library call on
// the GPU (cuBLASLt's bias epilogue, kernels/cuda/gemm_lt.cpp). The CPU versions (kernels/cpu/
// gemm_bias.cpp) are the reference and reproduce the arithmetic of the unfused ops exactly.
#define EMBER_GEMM_BIAS_KERNELS                                                                     \
  /* c = a @ b + bias[col], then max(c, 0) if relu. a (M, K), b (K, N) with a BLAS layout, bias  \
     (N) contiguous, c (M, N) contiguous; 2-D only, one dtype, float32 or float64. */               \
  void gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& c, bool relu);
namespace cpu { EMBER_GEMM_BIAS_KERNELS }
namespace cuda { EMBER_GEMM_BIAS_KERNELS }
#undef EMBER_GEMM_BIAS_KERNELS

// GEMM with the row sums of its first operand: a linear layer's weight and bias gradients,
// dW = g^T @ x and db = sum of g over the batch, from one library call on the GPU (cuBLASLt's BGRADB
// epilogue, which reduces Lt's B operand, here Ember's a, over K). The CPU versions are the reference
// and keep the arithmetic of matmul + sum(g, {0}).
#define EMBER_GEMM_BIAS_GRAD_KERNELS                                                                    \
  /* c = a @ b and bias_grad[i] = sum_k a[i, k]. a (M, K), b (K, N) with a BLAS layout, c (M, N) and  \
     bias_grad (M) contiguous; 2-D only, one dtype, float32 or float64. */                             \
  void gemm_bias_grad(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& bias_grad);
namespace cpu { EMBER_GEMM_BIAS_GRAD_KERNELS }
namespace cuda { EMBER_GEMM_BIAS_GRAD_KERNELS }
#undef EMBER_GEMM_BIAS_GRAD_KERNELS

// The row sums of a (M, K) as the reduce kernels (kernels/reduce.h) take them: a transposed view of a
// contiguous (K, M) matrix, what g.t() is, is summed over the middle axis of [1, K, M], as sum(g, {0})
// does (same kernel, same order); any other layout as [M, K, 1] of a contiguous copy.
struct RowSumInput {
  Tensor input;
  ReduceGeometry geometry;
};
inline RowSumInput row_sum_input(const Tensor& a) {
  const int64_t M = a.size(0), K = a.size(1);
  const Tensor at = a.t();
  if (at.is_contiguous()) return {at, ReduceGeometry{1, K, M}};
  return {a.contiguous(), ReduceGeometry{M, K, 1}};
}

// ---- Ember's hand-written SGEMM (kernels/cuda/sgemm.cu) ----------------------------------------
// C = A @ B for row-major, densely packed FP32 device matrices A (M x K), B (K x N), C (M x N), on
// the current stream of the current device. Any sizes; see sgemm.cu for the fast path's conditions.

// A block tile of the production kernel: a block of (bm / 8) * (bn / 8) threads computes a bm x bn
// tile of C, walking K in slices of bk; every thread owns 8 x 8 outputs. min_blocks: the blocks
// per SM its registers are capped for (__launch_bounds__; 1 = no cap in practice).
struct SgemmTile {
  int bm, bn, bk, min_blocks;
};
constexpr bool operator==(const SgemmTile& a, const SgemmTile& b) {
  return a.bm == b.bm && a.bn == b.bn && a.bk == b.bk && a.min_blocks == b.min_blocks;
}
inline std::string sgemm_tile_name(const SgemmTile& t) {  // "128x128x8_b2"
  return std::to_string(t.bm) + "x" + std::to_string(t.bn) + "x" + std::to_string(t.bk) + "_b" +
         std::to_string(t.min_blocks);
}
// The tiles compiled into sgemm.cu, the default (what sgemm_tiled uses) first; bench_kernels
// sweeps all of them in one run to pick the default on the GPU at hand. The non-default tiles come
// with and without the register cap for 16 warps an SM (sgemm.cu, design point 7).
inline constexpr SgemmTile kSgemmTiles[] = {{128, 128, 8, 2}, {128, 128, 16, 1}, {128, 128, 16, 2},
                                            {128, 64, 8, 1},  {128, 64, 8, 4},   {64, 64, 8, 1},
                                            {64, 64, 8, 8}};
// The steps of the SGEMM ladder in docs/perf-notes.md: 0 naive ... 5 the production kernel,
// 6 the warp-tiled kernel (kSgemmWarpTiles[0]).
inline constexpr int kSgemmSteps = 7;

// A configuration of the warp-tiled kernel (kernels/cuda/sgemm_warptile.cu): a block of
// (bm / wm) * (bn / wn) warps computes a bm x bn tile of C, walking K in slices of bk; each warp
// owns a wm x wn sub-tile, walked as wm_iter x wn_iter warp sub-tiles in which every lane holds
// 4 x 4 outputs, so a lane owns (4 * wm_iter) x (4 * wn_iter). min_blocks as in SgemmTile.
struct SgemmWarpTile {
  int bm, bn, bk, wm, wn, wm_iter, wn_iter, min_blocks;
};
constexpr bool operator==(const SgemmWarpTile& a, const SgemmWarpTile& b) {
  return a.bm == b.bm && a.bn == b.bn && a.bk == b.bk && a.wm == b.wm && a.wn == b.wn && a.wm_iter == b.wm_iter &&
         a.wn_iter == b.wn_iter && a.min_blocks == b.min_blocks;
}
inline std::string sgemm_warp_tile_name(const SgemmWarpTile& t) {  // "128x128x16_w64x32_i2x2_b2"
  return std::to_string(t.bm) + "x" + std::to_string(t.bn) + "x" + std::to_string(t.bk) + "_w" +
         std::to_string(t.wm) + "x" + std::to_string(t.wn) + "_i" + std::to_string(t.wm_iter) + "x" +
         std::to_string(t.wn_iter) + "_b" + std::to_string(t.min_blocks);
}
// The configurations compiled into sgemm_warptile.cu, step 6's first; bench_kernels sweeps them
// all (sgemm_warptile_<name>). Step 6 keeps step 5's block tile, threads and 8 x 8 outputs a
// thread, so it measures warp tiling alone; then the other warp shape, bk = 16 (with and without
// the register cap for 2 blocks an SM), and 4 warps with 8 x 16 outputs a lane (more FMAs per
// shared load, fewer warps). See sgemm_warptile.cu, design point 9.
inline constexpr SgemmWarpTile kSgemmWarpTiles[] = {
    {128, 128, 8, 32, 64, 2, 2, 2},  {128, 128, 8, 64, 32, 2, 2, 2}, {128, 128, 16, 64, 32, 2, 2, 1},
    {128, 128, 16, 64, 32, 2, 2, 2}, {128, 128, 8, 64, 64, 2, 4, 2}};

namespace cuda {
// The production kernel with the default tile, kSgemmTiles[0].
void sgemm_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// The production kernel with one of kSgemmTiles; throws ember::Error for any other tile.
void sgemm_tiled(const SgemmTile& tile, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);

// The warp-tiled kernel with one of kSgemmWarpTiles; throws ember::Error for any other
// configuration. Same contract as sgemm_tiled (any sizes, any pointers: a checked path covers
// ragged edges and pointers that are not 16-byte aligned).
void sgemm_warptile(const SgemmWarpTile& config, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                    float* C);

// The SGEMM ladder, one kernel per step, same contract as sgemm_tiled. These exist so that
// bench_kernels (and the tests) can measure and check each step documented in docs/perf-notes.md
// ("Hand-written SGEMM"); nothing else should call them. Steps 0-3 are in sgemm_steps.cu.
namespace sgemm_steps {
void naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);            // step 0
void shared_tiles(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);     // step 1
void register_column(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);  // step 2
void register_tile(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);    // step 3
// Step 4 (in sgemm.cu): the production kernel, default tile, with one shared buffer instead of
// two. Step 5 is sgemm_tiled itself.
void single_buffer(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// Step 6 (in sgemm_warptile.cu): the warp-tiled kernel with kSgemmWarpTiles[0].
void warp_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
// Runs step `step`, 0 <= step < kSgemmSteps; throws ember::Error for any other.
void run(int step, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
}  // namespace sgemm_steps
}  // namespace cuda

// The hand-written SGEMM on tensors, callable from any build (tests, benchmarks): c = a @ b for
// contiguous float32 CUDA tensors a (M, K), b (K, N), c (M, N). Throws in a build without CUDA.
void sgemm_tiled(const Tensor& a, const Tensor& b, const Tensor& c);
// The same with a tile from kSgemmTiles, and one step of the ladder (0 <= step < kSgemmSteps).
void sgemm_tiled(const SgemmTile& tile, const Tensor& a, const Tensor& b, const Tensor& c);
void sgemm_step(int step, const Tensor& a, const Tensor& b, const Tensor& c);
// The warp-tiled kernel with one of kSgemmWarpTiles.
void sgemm_warptile(const SgemmWarpTile& config, const Tensor& a, const Tensor& b, const Tensor& c);

}  // namespace ember::kernels
