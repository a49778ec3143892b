// cuBLAS statuses for EMBER_CUDA_CHECK (core/cuda/check.h): the status_ok/status_string pair,
// and a non-template check_status overload so that the check resolves at the call site whatever
// the include order. Private to kernels/cuda.
#pragma once
#include <cublas_v2.h>

#include <string>

#include <ember/core/cuda/check.h>

namespace ember::cuda::detail {

inline bool status_ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
inline std::string status_string(cublasStatus_t s) {
  return std::string(cublasGetStatusName(s)) + ": " + cublasGetStatusString(s);
}
inline void check_status(cublasStatus_t status, const char* call, const char* file, int line) {
  if (!status_ok(status))
    throw Error(std::string(call) + " failed: " + status_string(status) + " at " + file + ":" + std::to_string(line));
}

}  // namespace ember::cuda::detail
