// EMBER_CUDA_CHECK for cuBLAS calls: the status_ok/status_string pair core/cuda/check.h asks each
// CUDA library to add. Include this header before anything that includes core/cuda/check.h, so
// that check_status() sees these overloads when it is defined.
#pragma once
#include <cublas_v2.h>

#include <string>

namespace ember::cuda::detail {
inline bool status_ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
inline std::string status_string(cublasStatus_t s) {
  return std::string(cublasGetStatusName(s)) + ": " + cublasGetStatusString(s);
}
}  // namespace ember::cuda::detail

#include <ember/core/cuda/check.h>
