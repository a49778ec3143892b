// NCCL statuses in EMBER_CUDA_CHECK (core/cuda/check.h): the call, NCCL's error string and the
// last error message, file and line. Private to dist/nccl.
#pragma once
#include <nccl.h>

#include <string>

#include <ember/core/cuda/check.h>
#include <ember/core/dtype.h>

namespace ember::cuda::detail {

inline bool status_ok(ncclResult_t s) { return s == ncclSuccess || s == ncclInProgress; }
inline std::string status_string(ncclResult_t s) {
  std::string text = ncclGetErrorString(s);
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && *last != '\0') text += std::string(" (") + last + ")";
  return text;
}
// Non-template, so the check resolves at the call site whatever the include order.
inline void check_status(ncclResult_t status, const char* call, const char* file, int line) {
  if (!status_ok(status))
    throw Error(std::string(call) + " failed: " + status_string(status) + " at " + file + ":" + std::to_string(line));
}

}  // namespace ember::cuda::detail

#define EMBER_NCCL_CHECK(call) EMBER_CUDA_CHECK(call)

namespace ember::dist::detail {

// NCCL's element type for an Ember dtype.
inline ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
    case DType::Int64: return ncclInt64;
    case DType::UInt8: return ncclUint8;
  }
  EMBER_FAIL("nccl: unsupported dtype ", dtype_name(t));
}

}  // namespace ember::dist::detail
