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

#include <ember/core/tensor.h>

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

namespace cuda {
// Ember's hand-written SGEMM (kernels/cuda/sgemm.cu): C = A @ B for row-major, densely packed FP32
// device matrices A (M x K), B (K x N), C (M x N), on the current stream of the current device.
// Any sizes; multiples of 128 (M, N) and 8 (K) with 16-byte aligned pointers take the fast path.
void sgemm_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C);
}  // namespace cuda

// The hand-written SGEMM on tensors, callable from any build (tests, benchmarks): c = a @ b for
// contiguous float32 CUDA tensors a (M, K), b (K, N), c (M, N). Throws in a build without CUDA.
void sgemm_tiled(const Tensor& a, const Tensor& b, const Tensor& c);

}  // namespace ember::kernels
