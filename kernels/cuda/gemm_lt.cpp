// GPU GEMM + bias (+ relu) in one cuBLASLt call, the epilogue applying the bias and the relu as
// the tile is written out (no bias copy before the GEMM, no relu kernel after it); and the weight
// gradient GEMM with the bias gradient reduced in its epilogue (no sum kernel after it).
//
// Row-major C (M x N) = A @ B is the column-major D = C^T (N x M) = B^T A^T, as in gemm.cpp: Lt's
// first operand is Ember's b, its second Ember's a, each with its own transpose flag. The bias
// (length N) is then one value per row of D, which is exactly the broadcast of Lt's bias epilogue
// (CUBLASLT_EPILOGUE_BIAS: D[i][j] = acc[i][j] + bias[i], i < m = N; RELU_BIAS: max(that, 0)).
// BGRADB writes the sums over k of Lt's B operand, one per column j < n = M of D: Lt's B is Ember's a,
// so bias[j] = sum_k a[j][k], the row sums of Ember's a (for dW = g^T @ x, the sum of g over the batch).
// Compute type 32F / 64F (no TF32), so float32 matches the CPU to FP32 rounding.
//
// No workspace (0 bytes): nothing is allocated per call, which keeps graph capture safe. The
// algorithm comes from cublasLtMatmulAlgoGetHeuristic once per (device, dtype, shape, layouts,
// epilogue, alignments) and is kept with its descriptors. Where Lt answers NOT_SUPPORTED or finds
// no algorithm (some dtype/epilogue pairs, odd alignments) the key is marked and every call with it
// takes the unfused path: the bias copy and cuBLAS GEMM (beta 1), the GEMM and the bias_relu
// kernel, or the GEMM and the sum kernel, i.e. what linear, bias_relu(linear(x, w), b) and
// LinearBackward launched before.
#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include <ember/kernels/copy.h>
#include <ember/kernels/cuda/cublas_check.h>
#include <ember/core/cuda/device_scope.h>
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/fused.h>
#include <ember/kernels/gemm.h>
#include <ember/kernels/reduce.h>

namespace ember::kernels::cuda {

namespace {

// An Lt call that may answer NOT_SUPPORTED (the heuristic, the matmul itself): false for that
// status, true for success; any other status throws like EMBER_CUDA_CHECK, naming the call.
bool lt_supported(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) return false;
  ember::cuda::detail::check_status(status, call, file, line);
  return true;
}
#define EMBER_LT_SUPPORTED(call) lt_supported((call), #call, __FILE__, __LINE__)

// One handle per (host thread, device), like cublas_handle() in gemm.cpp, and never destroyed for
// the same reason (the CUDA context may be gone at process exit).
cublasLtHandle_t lt_handle(int device) {
  thread_local std::map<int, cublasLtHandle_t> handles;
  auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  ember::cuda::DeviceScope scope(device);
  cublasLtHandle_t handle = nullptr;
  EMBER_CUDA_CHECK(cublasLtCreate(&handle));
  handles.emplace(device, handle);
  return handle;
}

// The largest power of two up to 256 that divides the address: the alignment the heuristic is told
// (its default assumes 256 and may pick an algorithm that then fails on a view's offset pointer).
uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

struct PlanKey {
  int device, dtype;
  int64_t M, N, K, lda, ldb;
  bool a_transposed, b_transposed;
  cublasLtEpilogue_t epilogue;
  uint32_t align_a, align_b, align_c, align_bias;
  bool operator<(const PlanKey& o) const {
    return std::tie(device, dtype, M, N, K, lda, ldb, a_transposed, b_transposed, epilogue, align_a, align_b, align_c,
                    align_bias) < std::tie(o.device, o.dtype, o.M, o.N, o.K, o.lda, o.ldb, o.a_transposed,
                                           o.b_transposed, o.epilogue, o.align_a, o.align_b, o.align_c, o.align_bias);
  }
};

// The descriptors and algorithm of one key, or supported = false: take the unfused path. Owned by
// the cache; destruction frees host memory only, ignoring statuses (destructors never throw).
struct Plan {
  bool supported = false;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layout_first = nullptr, layout_second = nullptr, layout_d = nullptr;  // Lt's A, B, C = D
  cublasLtMatmulAlgo_t algo{};

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (layout_d) cublasLtMatrixLayoutDestroy(layout_d);
    if (layout_second) cublasLtMatrixLayoutDestroy(layout_second);
    if (layout_first) cublasLtMatrixLayoutDestroy(layout_first);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

struct PreferenceOwner {
  cublasLtMatmulPreference_t pref = nullptr;
  ~PreferenceOwner() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
};

// Descriptors for D (N x M, column-major) = op(first) (N x K) @ op(second) (K x M) with the key's
// epilogue, and the heuristic's algorithm for them.
std::unique_ptr<Plan> make_plan(const PlanKey& key, cublasLtHandle_t handle, const void* bias_ptr) {
  auto plan = std::make_unique<Plan>();
  const bool f32 = key.dtype == static_cast<int>(kFloat32);
  const cudaDataType_t type = f32 ? CUDA_R_32F : CUDA_R_64F;
  EMBER_CUDA_CHECK(cublasLtMatmulDescCreate(&plan->desc, f32 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_64F, type));
  // Lt's first operand is Ember's b (N x K as column-major when not transposed), its second Ember's a.
  const int32_t op_first = key.b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int32_t op_second = key.a_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  EMBER_CUDA_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof(op_first)));
  EMBER_CUDA_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof(op_second)));
  EMBER_CUDA_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &key.epilogue, sizeof(key.epilogue)));
  // The heuristic reads the bias (or bias gradient) pointer's alignment (it is set again on every call).
  EMBER_CUDA_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
  const uint64_t N = static_cast<uint64_t>(key.N), M = static_cast<uint64_t>(key.M), K = static_cast<uint64_t>(key.K);
  EMBER_CUDA_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_first, type, key.b_transposed ? K : N,
                                              key.b_transposed ? N : K, key.ldb));
  EMBER_CUDA_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_second, type, key.a_transposed ? M : K,
                                              key.a_transposed ? K : M, key.lda));
  EMBER_CUDA_CHECK(cublasLtMatrixLayoutCreate(&plan->layout_d, type, N, M, key.N));

  PreferenceOwner preference;
  EMBER_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&preference.pref));
  const uint64_t workspace_bytes = 0;
  EMBER_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(preference.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                        &workspace_bytes, sizeof(workspace_bytes)));
  // Lt's A is Ember's b, Lt's B Ember's a; C and D are Ember's c.
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_c}};
  for (const auto& [attribute, bytes] : alignments)
    EMBER_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(preference.pref, attribute, &bytes, sizeof(bytes)));

  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  // Any answer but an algorithm whose own `state` is SUCCESS means Lt will not run this key (which
  // status a declined combination gets, NOT_SUPPORTED or INVALID_VALUE, is not the same for every
  // type and library version): the unfused path, plain cuBLAS, serves it instead.
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle, plan->desc, plan->layout_first, plan->layout_second, plan->layout_d,
                                     plan->layout_d, preference.pref, 1, &result, &found);
  if (status != CUBLAS_STATUS_SUCCESS || found == 0 || result.state != CUBLAS_STATUS_SUCCESS)
    return std::make_unique<Plan>();  // supported = false, descriptors freed with `plan`
  plan->algo = result.algo;
  plan->supported = true;
  return plan;
}

// The plan of a key, made on first use; per host thread like the handles, so that a plan's
// descriptor (whose bias pointer each call sets) is never shared between threads.
Plan& plan_for(const PlanKey& key, cublasLtHandle_t handle, const void* bias_ptr) {
  thread_local std::map<PlanKey, std::unique_ptr<Plan>> plans;
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, make_plan(key, handle, bias_ptr)).first;
  return *it->second;
}

// The composition the epilogue replaces, launch for launch what the ops ran before the fusion.
void gemm_bias_unfused(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& c, bool relu) {
  if (relu) {
    Tensor product = ember::empty(c.sizes(), TensorOptions(c.dtype()).with_device(c.device()));
    kernels::cuda::gemm(a, b, product, 1.0, 0.0);
    kernels::cuda::bias_relu_forward(product, bias, c);
  } else {
    kernels::cuda::copy(bias.detach().expand(c.sizes()), c);
    kernels::cuda::gemm(a, b, c, 1.0, 1.0);
  }
}

// c = a @ b through one cuBLASLt call with `epilogue` reading (BIAS, RELU_BIAS) or writing (BGRADB)
// `vector`. False where Lt declines the key, now or on an earlier call: the caller takes its
// unfused path. Shapes are the caller's to check; K >= 1 (Lt wants k >= 1).
bool lt_matmul(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& vector, cublasLtEpilogue_t epilogue) {
  const MatrixLayout la = matrix_layout(a), lb = matrix_layout(b);
  const int device = c.device().index;
  cublasLtHandle_t handle = lt_handle(device);
  const PlanKey key{device,
                    static_cast<int>(c.dtype()),
                    c.size(0),
                    c.size(1),
                    a.size(1),
                    la.ld,
                    lb.ld,
                    la.transposed,
                    lb.transposed,
                    epilogue,
                    alignment_of(a.data_ptr()),
                    alignment_of(b.data_ptr()),
                    alignment_of(c.data_ptr()),
                    alignment_of(vector.data_ptr())};
  const void* vector_ptr = vector.data_ptr();
  Plan& plan = plan_for(key, handle, vector_ptr);
  if (!plan.supported) return false;
  EMBER_CUDA_CHECK(
      cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &vector_ptr, sizeof(vector_ptr)));
  const bool launched = dispatch_floating(c.dtype(), "cublasLtMatmul", [&](auto tag) {
    using T = decltype(tag);
    const T alpha = T(1), beta = T(0);
    return EMBER_LT_SUPPORTED(cublasLtMatmul(handle, plan.desc, &alpha, b.data_ptr(), plan.layout_first,
                                             a.data_ptr(), plan.layout_second, &beta, c.data_ptr(), plan.layout_d,
                                             c.data_ptr(), plan.layout_d, &plan.algo, nullptr, 0, stream_of(c)));
  });
  if (!launched) plan.supported = false;  // refused at run time: decided for this key from now on
  return launched;
}

// Both kernels' operand checks; `vector` is the bias (length N) or the bias gradient (length M).
void check_lt_operands(const char* op, const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& vector,
                       int64_t vector_size) {
  EMBER_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2 && matrix_layout(a).valid && matrix_layout(b).valid &&
                  c.is_contiguous() && vector.dim() == 1 && vector.size(0) == vector_size && vector.is_contiguous(),
              op, ": expected 2-d operands with a BLAS layout, a contiguous output and vector of ", vector_size,
              ", got ", a.str(), ", ", b.str(), ", ", vector.str(), ", ", c.str());
}

}  // namespace

void gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& c, bool relu) {
  check_lt_operands("gemm_bias", a, b, c, bias, c.dim() == 2 ? c.size(1) : -1);
  if (c.numel() == 0) return;
  // K == 0: c = bias rows, which Lt (k >= 1) does not take.
  if (a.size(1) == 0 || !lt_matmul(a, b, c, bias, relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS))
    gemm_bias_unfused(a, b, bias, c, relu);
}

void gemm_bias_grad(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& bias_grad) {
  check_lt_operands("gemm_bias_grad", a, b, c, bias_grad, c.dim() == 2 ? c.size(0) : -1);
  if (c.size(0) == 0) return;
  // N == 0 still has row sums to write, K == 0 zeros: neither goes to Lt.
  if (c.size(1) > 0 && a.size(1) > 0 && lt_matmul(a, b, c, bias_grad, CUBLASLT_EPILOGUE_BGRADB)) return;
  kernels::cuda::gemm(a, b, c, 1.0, 0.0);
  const RowSumInput rows = row_sum_input(a);
  kernels::cuda::sum_dim(rows.input, bias_grad, rows.geometry, 1.0);
}

}  // namespace ember::kernels::cuda
