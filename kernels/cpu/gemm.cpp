// CPU GEMM through OpenBLAS (cblas row-major interface); batches loop over cblas calls.
#include <cblas.h>

#include <algorithm>

#include <ember/kernels/cpu/parallel.h>
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
    // BLAS runs single-threaded (see thread_pool.cpp); large products are split over the pool by
    // batch entries and row blocks of C, each block one BLAS call.
    const int64_t row_blocks = M * N * K >= (int64_t{1} << 21) ? std::min<int64_t>(M, 4 * num_threads()) : 1;
    parallel_for(batch * row_blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job) {
        const int64_t i = job / row_blocks, block = job % row_blocks;
        const int64_t r0 = M * block / row_blocks, r1 = M * (block + 1) / row_blocks;
        T* c_block = pc + i * M * N + r0 * N;
        if (K == 0) {  // BLAS would leave C untouched; the empty sum is zero.
          for (int64_t j = 0; j < (r1 - r0) * N; ++j) c_block[j] = beta == 0 ? T(0) : static_cast<T>(beta) * c_block[j];
          continue;
        }
        const T* a_block = pa + i * stride_a + (la.transposed ? r0 : r0 * la.ld);
        blas_gemm(la.transposed, lb.transposed, r1 - r0, N, K, static_cast<T>(alpha), a_block, la.ld,
                  pb + i * stride_b, lb.ld, static_cast<T>(beta), c_block, N);
      }
    });
  });
}

}  // namespace ember::kernels::cpu
