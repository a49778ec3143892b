// CPU GEMM through OpenBLAS (cblas row-major interface); batches loop over cblas calls.
#include <cblas.h>

#include <ember/kernels/gemm.h>

namespace ember::kernels::cpu {

namespace {

void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta,
              C, static_cast<int>(ldc));
}

void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
               const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta,
              C, static_cast<int>(ldc));
}

}  // namespace

void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta) {
  const bool batched = c.dim() == 3;
  const int64_t batch = batched ? c.size(0) : 1;
  const int64_t M = c.size(c.dim() - 2), N = c.size(c.dim() - 1), K = a.size(a.dim() - 1);
  const int64_t stride_a = batched ? a.stride(0) : 0, stride_b = batched ? b.stride(0) : 0;
  MatrixLayout la = matrix_layout(a), lb = matrix_layout(b);
  EMBER_CHECK(la.valid && lb.valid && c.is_contiguous(), "gemm: operands need a BLAS layout, got ", a.str(), ", ",
              b.str(), ", ", c.str());
  if (M == 0 || N == 0) return;
  dispatch_floating(c.dtype(), "gemm", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    T* pc = static_cast<T*>(c.data_ptr());
    for (int64_t i = 0; i < batch; ++i) {
      if (K == 0) {  // BLAS would leave C untouched; the empty sum is zero.
        for (int64_t j = 0; j < M * N; ++j) pc[i * M * N + j] = beta == 0 ? T(0) : static_cast<T>(beta) * pc[i * M * N + j];
        continue;
      }
      blas_gemm(la.transposed, lb.transposed, M, N, K, static_cast<T>(alpha), pa + i * stride_a, la.ld,
                pb + i * stride_b, lb.ld, static_cast<T>(beta), pc + i * M * N, N);
    }
  });
}

}  // namespace ember::kernels::cpu
