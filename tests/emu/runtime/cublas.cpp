// The fake cuBLAS: strided batched GEMM as a naive loop accumulating in double, with the real
// library's argument checks (leading dimensions, operand extents inside device allocations).
#include "internal.h"
#include <cublas_v2.h>

#include <algorithm>
#include <cstdio>

using namespace emu;
struct cublasContext {
  cudaStream_t stream = nullptr;
};
cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    default: return "CUBLAS_STATUS_OTHER";
  }
}
const char* cublasGetStatusString(cublasStatus_t s) { return cublasGetStatusName(s); }

template <typename T>
static cublasStatus_t gemm_sb(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const T* alpha, const T* A, int lda, long long sa, const T* B, int ldb, long long sb,
                              const T* beta, T* C, int ldc, long long sc, int batch) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, ta == CUBLAS_OP_N ? m : k) ||
      ldb < std::max(1, tb == CUBLAS_OP_N ? k : n) || ldc < std::max(1, m)) {
    report("cublas?gemmStridedBatched: invalid value m %d n %d k %d lda %d ldb %d ldc %d batch %d (ta %d tb %d)", m, n,
           k, lda, ldb, ldc, batch, ta, tb);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  // Extents touched per operand, in elements.
  long long a_cols = ta == CUBLAS_OP_N ? k : m, a_rows = ta == CUBLAS_OP_N ? m : k;
  long long b_cols = tb == CUBLAS_OP_N ? n : k, b_rows = tb == CUBLAS_OP_N ? k : n;
  for (int b = 0; b < batch; ++b) {
    if (k > 0) {
      if (!check_device_range(A + b * sa, size_t((a_cols - 1) * lda + a_rows) * sizeof(T), "cublas gemm A")) return CUBLAS_STATUS_INVALID_VALUE;
      if (!check_device_range(B + b * sb, size_t((b_cols - 1) * ldb + b_rows) * sizeof(T), "cublas gemm B")) return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (!check_device_range(C + b * sc, size_t((n - 1) * ldc + m) * sizeof(T), "cublas gemm C")) return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (sc < static_cast<long long>(ldc) * n && batch > 1)
    report("WARNING: cublas gemm: C batches overlap (strideC %lld < ldc*n %lld)", sc, static_cast<long long>(ldc) * n);
  T al = *alpha, be = *beta;
  char detail[160];
  std::snprintf(detail, sizeof detail, "%s m %d n %d k %d batch %d op %c%c", sizeof(T) == 4 ? "S" : "D", m, n, k, batch,
                ta == CUBLAS_OP_N ? 'N' : 'T', tb == CUBLAS_OP_N ? 'N' : 'T');
  g_detail = detail;
  enqueue(h->stream, "cublasGemmStridedBatched", [=] {
    for (int b = 0; b < batch; ++b) {
      const T* a = A + b * sa;
      const T* bb = B + b * sb;
      T* c = C + b * sc;
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
          double acc = 0;
          for (int p = 0; p < k; ++p) {
            T av = ta == CUBLAS_OP_N ? a[i + static_cast<long long>(p) * lda] : a[p + static_cast<long long>(i) * lda];
            T bv = tb == CUBLAS_OP_N ? bb[p + static_cast<long long>(j) * ldb] : bb[j + static_cast<long long>(p) * ldb];
            acc += av * bv;
          }
          T& out = c[i + static_cast<long long>(j) * ldc];
          out = be == T(0) ? al * T(acc) : al * T(acc) + be * out;
        }
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                         long long sc, int batch) {
  return gemm_sb(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double* alpha, const double* A, int lda, long long sa,
                                         const double* B, int ldb, long long sb, const double* beta, double* C,
                                         int ldc, long long sc, int batch) {
  return gemm_sb(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
