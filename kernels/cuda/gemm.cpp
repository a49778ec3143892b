// GPU GEMM through cuBLAS. cuBLAS is column-major; a row-major (M x N) matrix is the column-major
// (N x M) matrix of its transpose, so row-major C = A @ B is computed as column-major
// C^T = B^T @ A^T: swap the operands and M/N, keep each operand's own transpose flag.
// Default math mode (no TF32), so float32 results match the CPU reference to FP32 rounding.
#include <map>
#include <utility>

#include <ember/kernels/cuda/cublas_check.h>
#include <ember/core/cuda/device_scope.h>
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/gemm.h>

namespace ember::kernels::cuda {

namespace {

// One handle per (host thread, device, stream), created on first use and bound to its stream: a
// handle's workspace must not serve two streams whose GEMMs may run at the same time (backward's
// weight gradients run beside the data gradients, ops/weight_grad_branch.h). Handles are
// deliberately never destroyed: at process exit the CUDA context may already be gone, and
// cublasDestroy would fail.
cublasHandle_t cublas_handle(int device, cudaStream_t stream) {
  thread_local std::map<std::pair<int, cudaStream_t>, cublasHandle_t> handles;
  auto it = handles.find({device, stream});
  if (it != handles.end()) return it->second;
  ember::cuda::DeviceScope scope(device);
  cublasHandle_t handle = nullptr;
  EMBER_CUDA_CHECK(cublasCreate(&handle));
  EMBER_CUDA_CHECK(cublasSetStream(handle, stream));
  handles.emplace(std::make_pair(device, stream), handle);
  return handle;
}

cublasOperation_t op_of(const MatrixLayout& l) { return l.transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

cublasStatus_t gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const float* alpha, const float* A, int lda, long long sa, const float* B, int ldb,
                            long long sb, const float* beta, float* C, int ldc, long long sc, int batch) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
cublasStatus_t gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const double* alpha, const double* A, int lda, long long sa, const double* B, int ldb,
                            long long sb, const double* beta, double* C, int ldc, long long sc, int batch) {
  return cublasDgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}

}  // namespace

void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta) {
  const bool batched = c.dim() == 3;
  const int64_t batch = batched ? c.size(0) : 1;
  const int64_t M = c.size(c.dim() - 2), N = c.size(c.dim() - 1), K = a.size(a.dim() - 1);
  MatrixLayout la = matrix_layout(a), lb = matrix_layout(b);
  EMBER_CHECK(la.valid && lb.valid && c.is_contiguous(), "gemm: operands need a BLAS layout, got ", a.str(), ", ",
              b.str(), ", ", c.str());
  if (M == 0 || N == 0 || batch == 0) return;
  const int device = c.device().index;
  cudaStream_t stream = stream_of(c);
  if (K == 0) {  // the empty sum: C = beta * C, and beta is 0 (matmul) or 1 (linear's bias)
    EMBER_CHECK(beta == 0.0 || beta == 1.0, "gemm: K = 0 supports beta 0 or 1, got ", beta);
    if (beta == 0.0) EMBER_CUDA_CHECK(cudaMemsetAsync(c.data_ptr(), 0, c.nbytes(), stream));
    return;
  }
  cublasHandle_t handle = cublas_handle(device, stream);
  dispatch_floating(c.dtype(), "gemm", [&](auto tag) {
    using T = decltype(tag);
    const T alpha_t = static_cast<T>(alpha), beta_t = static_cast<T>(beta);
    EMBER_CUDA_CHECK(gemm_batched(handle, op_of(lb), op_of(la), static_cast<int>(N), static_cast<int>(M),
                                  static_cast<int>(K), &alpha_t, static_cast<const T*>(b.data_ptr()),
                                  static_cast<int>(lb.ld), batched ? b.stride(0) : 0,
                                  static_cast<const T*>(a.data_ptr()), static_cast<int>(la.ld),
                                  batched ? a.stride(0) : 0, &beta_t, static_cast<T*>(c.data_ptr()),
                                  static_cast<int>(N), M * N, static_cast<int>(batch)));
  });
}

}  // namespace ember::kernels::cuda
