// The fake cuBLASLt: D = alpha * op(A) op(B) + beta * C with the bias / relu epilogues and the
// bias gradient of BGRADB (bias[j] = sum over k of op(B)[k][j], written, not read), a naive
// column-major loop accumulating in double, behind the real library's checks: attribute sizes,
// layouts' rows/cols/ld consistent with the operations and with each other, one data type matching
// the compute type, a bias pointer whenever the epilogue reads one, the workspace the algorithm
// was chosen for, operand extents inside device allocations. The heuristic declines float64
// (NOT_SUPPORTED) unless EMU_LT_F64=1, so that the float64 CUDA tests cover the caller's fallback
// and the float32 ones the epilogue; which one real cuBLASLt takes for float64 depends on its version.
#include "internal.h"
#include <cublasLt.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

using namespace emu;

struct cublasLtContext {};
struct cublasLtMatmulDescOpaque_t {
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cudaDataType_t scale = CUDA_R_32F;
  int32_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N, pointer_mode = 0;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  int32_t bias_type = -1;  // -1: D's type
};
struct cublasLtMatrixLayoutOpaque_t {
  cudaDataType_t type = CUDA_R_32F;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
};
struct cublasLtMatmulPreferenceOpaque_t {
  uint64_t max_workspace = 0;
  uint32_t alignment[4] = {256, 256, 256, 256};  // A, B, C, D
};

namespace {

constexpr uint64_t kAlgoMagic = 0x656d754c74416c67ull;  // "emuLtAlg": an algorithm from the heuristic

bool epilogue_known(uint32_t e) {
  return e == CUBLASLT_EPILOGUE_DEFAULT || e == CUBLASLT_EPILOGUE_RELU || e == CUBLASLT_EPILOGUE_BIAS ||
         e == CUBLASLT_EPILOGUE_RELU_BIAS || e == CUBLASLT_EPILOGUE_BGRADB;
}
bool epilogue_has_bias(uint32_t e) { return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_RELU_BIAS; }
bool epilogue_writes_bias_grad(uint32_t e) { return e == CUBLASLT_EPILOGUE_BGRADB; }
bool epilogue_uses_bias_pointer(uint32_t e) { return epilogue_has_bias(e) || epilogue_writes_bias_grad(e); }
bool epilogue_has_relu(uint32_t e) { return e == CUBLASLT_EPILOGUE_RELU || e == CUBLASLT_EPILOGUE_RELU_BIAS; }
size_t type_size(cudaDataType_t t) { return t == CUDA_R_64F ? 8 : 4; }
uint32_t alignment_of(const void* p) {
  uint32_t a = 256;
  while (a > 1 && reinterpret_cast<uintptr_t>(p) % a != 0) a /= 2;
  return a;
}

template <typename T>
bool set_value(T& field, const void* buf, size_t size, const char* what) {
  if (!buf || size != sizeof(T)) {
    report("cublasLt: %s set with %zu bytes (expects %zu)", what, size, sizeof(T));
    return false;
  }
  std::memcpy(&field, buf, sizeof(T));
  return true;
}

// The problem a descriptor and four layouts describe: m x n output, depth k, or false (reported).
struct Problem {
  uint64_t m, n, k;
  cudaDataType_t type;
};
bool problem_of(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, const char* call, Problem* out) {
  if (!desc || !a || !b || !c || !d) {
    report("%s: a descriptor or layout is null", call);
    return false;
  }
  const bool ta = desc->transa != CUBLAS_OP_N, tb = desc->transb != CUBLAS_OP_N;
  const uint64_t m = ta ? a->cols : a->rows, k = ta ? a->rows : a->cols;
  const uint64_t kb = tb ? b->cols : b->rows, n = tb ? b->rows : b->cols;
  if (k != kb || d->rows != m || d->cols != n || c->rows != d->rows || c->cols != d->cols || c->ld != d->ld) {
    report("%s: layouts disagree: op(A) %llu x %llu, op(B) %llu x %llu, C %llu x %llu ld %lld, D %llu x %llu ld %lld "
           "(transa %d transb %d)",
           call, (unsigned long long)m, (unsigned long long)k, (unsigned long long)kb, (unsigned long long)n,
           (unsigned long long)c->rows, (unsigned long long)c->cols, (long long)c->ld, (unsigned long long)d->rows,
           (unsigned long long)d->cols, (long long)d->ld, desc->transa, desc->transb);
    return false;
  }
  for (cublasLtMatrixLayout_t l : {a, b, c, d})
    if (l->ld < static_cast<int64_t>(std::max<uint64_t>(l->rows, 1))) {
      report("%s: ld %lld < rows %llu", call, (long long)l->ld, (unsigned long long)l->rows);
      return false;
    }
  if (a->type != b->type || a->type != c->type || a->type != d->type || desc->scale != a->type ||
      ((desc->compute == CUBLAS_COMPUTE_64F || desc->compute == CUBLAS_COMPUTE_64F_PEDANTIC) != (a->type == CUDA_R_64F))) {
    report("%s: data types A %d B %d C %d D %d do not fit compute type %d / scale type %d", call, a->type, b->type,
           c->type, d->type, desc->compute, desc->scale);
    return false;
  }
  if (desc->bias_type != -1 && desc->bias_type != d->type) {
    report("%s: bias data type %d differs from D's %d (unsupported here)", call, desc->bias_type, d->type);
    return false;
  }
  if (!epilogue_known(desc->epilogue)) {
    report("%s: epilogue %u is not emulated", call, desc->epilogue);
    return false;
  }
  if (epilogue_uses_bias_pointer(desc->epilogue) && !desc->bias) {
    report("%s: epilogue %u uses a bias vector but CUBLASLT_MATMUL_DESC_BIAS_POINTER is not set", call, desc->epilogue);
    return false;
  }
  *out = Problem{m, n, k, a->type};
  return true;
}

// Elements spanned by a column-major rows x cols matrix with leading dimension ld.
size_t extent(const cublasLtMatrixLayoutOpaque_t& l) {
  return l.rows == 0 || l.cols == 0 ? 0 : size_t((l.cols - 1) * l.ld + l.rows);
}

}  // namespace

cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) {
  if (!h) return CUBLAS_STATUS_INVALID_VALUE;
  *h = new cublasLtContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasLtGetStatusName(cublasStatus_t s) {
  return s == CUBLAS_STATUS_NOT_SUPPORTED ? "CUBLAS_STATUS_NOT_SUPPORTED" : cublasGetStatusName(s);
}
const char* cublasLtGetStatusString(cublasStatus_t s) { return cublasLtGetStatusName(s); }

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
  if (!desc) return CUBLAS_STATUS_INVALID_VALUE;
  *desc = new cublasLtMatmulDescOpaque_t;
  (*desc)->compute = compute;
  (*desc)->scale = scale;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete desc;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t size) {
  if (!desc) return CUBLAS_STATUS_NOT_INITIALIZED;
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA: ok = set_value(desc->transa, buf, size, "CUBLASLT_MATMUL_DESC_TRANSA"); break;
    case CUBLASLT_MATMUL_DESC_TRANSB: ok = set_value(desc->transb, buf, size, "CUBLASLT_MATMUL_DESC_TRANSB"); break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE: ok = set_value(desc->epilogue, buf, size, "CUBLASLT_MATMUL_DESC_EPILOGUE"); break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: ok = set_value(desc->bias, buf, size, "CUBLASLT_MATMUL_DESC_BIAS_POINTER"); break;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
      ok = set_value(desc->bias_type, buf, size, "CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE");
      break;
    case CUBLASLT_MATMUL_DESC_POINTER_MODE:
      ok = set_value(desc->pointer_mode, buf, size, "CUBLASLT_MATMUL_DESC_POINTER_MODE");
      if (ok && desc->pointer_mode != 0) {
        report("cublasLt: only CUBLASLT_POINTER_MODE_HOST is emulated");
        ok = false;
      }
      break;
    default: report("cublasLtMatmulDescSetAttribute: attribute %d is not emulated", attr);
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  if (!layout) return CUBLAS_STATUS_INVALID_VALUE;
  if (ld < static_cast<int64_t>(std::max<uint64_t>(rows, 1)) || (type != CUDA_R_32F && type != CUDA_R_64F)) {
    report("cublasLtMatrixLayoutCreate: invalid value type %d rows %llu cols %llu ld %lld", type,
           (unsigned long long)rows, (unsigned long long)cols, (long long)ld);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *layout = new cublasLtMatrixLayoutOpaque_t{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layout;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  if (!pref) return CUBLAS_STATUS_INVALID_VALUE;
  *pref = new cublasLtMatmulPreferenceOpaque_t;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete pref;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                    size_t size) {
  if (!pref) return CUBLAS_STATUS_NOT_INITIALIZED;
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
      ok = set_value(pref->max_workspace, buf, size, "CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES");
      break;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
      ok = set_value(pref->alignment[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES], buf, size,
                     "CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES");
      break;
    default: report("cublasLtMatmulPreferenceSetAttribute: attribute %d is not emulated", attr);
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

// One algorithm for every valid problem, needing no workspace; algo.data records the alignments
// it was chosen for, which cublasLtMatmul checks the pointers against (as a real kernel would fault
// or refuse on a less aligned buffer than promised).
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int* returned) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!pref || requested < 1 || !results || !returned) {
    report("cublasLtMatmulAlgoGetHeuristic: invalid value (preference %p, requested %d)", static_cast<void*>(pref),
           requested);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *returned = 0;
  Problem p;
  if (!problem_of(desc, a, b, c, d, "cublasLtMatmulAlgoGetHeuristic", &p)) return CUBLAS_STATUS_INVALID_VALUE;
  if (p.type == CUDA_R_64F && env_int("EMU_LT_F64", 0) == 0) return CUBLAS_STATUS_NOT_SUPPORTED;
  const uint32_t elem = static_cast<uint32_t>(type_size(p.type));
  for (uint32_t align : pref->alignment)
    if (align < elem) return CUBLAS_STATUS_NOT_SUPPORTED;  // no kernel reads below element alignment
  if (epilogue_uses_bias_pointer(desc->epilogue) && alignment_of(desc->bias) < elem) return CUBLAS_STATUS_NOT_SUPPORTED;
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].algo.data[0] = kAlgoMagic;
  for (int i = 0; i < 4; ++i) results[0].algo.data[1 + i] = pref->alignment[i];
  results[0].workspaceSize = 0;
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

template <typename T>
static cublasStatus_t lt_matmul(cublasLtMatmulDesc_t desc, const Problem& p, const T* alpha, const T* A,
                                const cublasLtMatrixLayoutOpaque_t& la, const T* B,
                                const cublasLtMatrixLayoutOpaque_t& lb, const T* beta, const T* C,
                                const cublasLtMatrixLayoutOpaque_t& lc, T* D, const cublasLtMatrixLayoutOpaque_t& ld,
                                cudaStream_t stream) {
  const int64_t m = static_cast<int64_t>(p.m), n = static_cast<int64_t>(p.n), k = static_cast<int64_t>(p.k);
  const bool ta = desc->transa != CUBLAS_OP_N, tb = desc->transb != CUBLAS_OP_N;
  const uint32_t epilogue = desc->epilogue;
  T* bias = static_cast<T*>(const_cast<void*>(desc->bias));  // written by BGRADB
  const T al = *alpha, be = *beta;
  const int64_t lda = la.ld, ldb = lb.ld, ldc = lc.ld, ldd = ld.ld;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if ((k > 0 && !check_device_range(A, extent(la) * sizeof(T), "cublasLt matmul A")) ||
      (k > 0 && !check_device_range(B, extent(lb) * sizeof(T), "cublasLt matmul B")) ||
      (be != T(0) && !check_device_range(C, extent(lc) * sizeof(T), "cublasLt matmul C")) ||
      !check_device_range(D, extent(ld) * sizeof(T), "cublasLt matmul D") ||
      (epilogue_has_bias(epilogue) && !check_device_range(bias, size_t(m) * sizeof(T), "cublasLt matmul bias")) ||
      (epilogue_writes_bias_grad(epilogue) &&
       !check_device_range(bias, size_t(n) * sizeof(T), "cublasLt matmul bias gradient")))
    return CUBLAS_STATUS_INVALID_VALUE;
  char detail[200];
  std::snprintf(detail, sizeof detail, "%s m %lld n %lld k %lld op %c%c epilogue %s", sizeof(T) == 4 ? "S" : "D",
                (long long)m, (long long)n, (long long)k, ta ? 'T' : 'N', tb ? 'T' : 'N',
                epilogue == CUBLASLT_EPILOGUE_BGRADB      ? "BGRADB"
                : epilogue == CUBLASLT_EPILOGUE_RELU_BIAS ? "RELU_BIAS"
                : epilogue == CUBLASLT_EPILOGUE_BIAS    ? "BIAS"
                : epilogue == CUBLASLT_EPILOGUE_RELU    ? "RELU"
                                                        : "DEFAULT");
  g_detail = detail;
  // Every argument by value: a captured call replays what was issued, whatever the descriptor holds later.
  enqueue(stream, "cublasLtMatmul", [=] {
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) {
          const T av = ta ? A[q + i * lda] : A[i + q * lda];
          const T bv = tb ? B[j + q * ldb] : B[q + j * ldb];
          acc += double(av) * double(bv);
        }
        T out = al * T(acc);
        if (be != T(0)) out += be * C[i + j * ldc];
        if (epilogue_has_bias(epilogue)) out += bias[i];
        if (epilogue_has_relu(epilogue)) out = out > T(0) ? out : T(0);
        D[i + j * ldd] = out;
      }
    if (epilogue_writes_bias_grad(epilogue))
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) acc += double(tb ? B[j + q * ldb] : B[q + j * ldb]);
        bias[j] = T(acc);
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* A,
                              cublasLtMatrixLayout_t a_layout, const void* B, cublasLtMatrixLayout_t b_layout,
                              const void* beta, const void* C, cublasLtMatrixLayout_t c_layout, void* D,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t* algo, void* workspace,
                              size_t workspace_bytes, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  Problem p;
  if (!problem_of(desc, a_layout, b_layout, c_layout, d_layout, "cublasLtMatmul", &p)) return CUBLAS_STATUS_INVALID_VALUE;
  if (!alpha || !beta) {
    report("cublasLtMatmul: alpha or beta is null");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (workspace_bytes > 0 && !workspace) {
    report("cublasLtMatmul: %zu workspace bytes at a null pointer", workspace_bytes);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (algo) {  // null: Lt picks one itself
    if (algo->data[0] != kAlgoMagic) {
      report("cublasLtMatmul: the algorithm did not come from cublasLtMatmulAlgoGetHeuristic");
      return CUBLAS_STATUS_INVALID_VALUE;
    }
    const void* pointers[4] = {A, B, C, D};
    for (int i = 0; i < 4; ++i)
      if (alignment_of(pointers[i]) < algo->data[1 + i]) {
        report("cublasLtMatmul: operand %c at %p is less aligned than the %llu bytes its algorithm was chosen for",
               "ABCD"[i], pointers[i], (unsigned long long)algo->data[1 + i]);
        return CUBLAS_STATUS_INVALID_VALUE;
      }
  }
  if (p.type == CUDA_R_64F)
    return lt_matmul(desc, p, static_cast<const double*>(alpha), static_cast<const double*>(A), *a_layout,
                     static_cast<const double*>(B), *b_layout, static_cast<const double*>(beta),
                     static_cast<const double*>(C), *c_layout, static_cast<double*>(D), *d_layout, stream);
  return lt_matmul(desc, p, static_cast<const float*>(alpha), static_cast<const float*>(A), *a_layout,
                   static_cast<const float*>(B), *b_layout, static_cast<const float*>(beta),
                   static_cast<const float*>(C), *c_layout, static_cast<float*>(D), *d_layout, stream);
}
