// cuDNN statuses for EMBER_CUDA_CHECK (core/cuda/check.h): the status_ok/status_string pair,
// and a non-template check_status overload so that the check resolves at the call site whatever
// the include order. Private to kernels/cuda.
#pragma once
#include <cudnn.h>

#include <string>

#include <ember/core/cuda/check.h>

namespace ember::cuda::detail {

inline bool status_ok(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }
inline std::string status_string(cudnnStatus_t s) { return cudnnGetErrorString(s); }
inline void check_status(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (!status_ok(status))
    throw Error(std::string(call) + " failed: " + status_string(status) + " at " + file + ":" + std::to_string(line));
}

}  // namespace ember::cuda::detail
