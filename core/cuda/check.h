// One check for every CUDA-family status type: EMBER_CUDA_CHECK(call) throws ember::Error naming
// the call, the library's error string, file and line. Each library adds a status_ok/status_string
// overload pair (cuBLAS, cuDNN and NCCL in their own headers). Private: includes CUDA headers.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include <ember/core/error.h>

namespace ember::cuda::detail {

inline bool status_ok(cudaError_t s) { return s == cudaSuccess; }
inline std::string status_string(cudaError_t s) { return std::string(cudaGetErrorName(s)) + ": " + cudaGetErrorString(s); }

template <typename Status>
void check_status(Status status, const char* call, const char* file, int line) {
  if (!status_ok(status)) {
    throw Error(std::string(call) + " failed: " + status_string(status) + " at " + file + ":" + std::to_string(line));
  }
}

// The raw stream of Ember's current stream on `device` (-1: the current device).
cudaStream_t current_raw_stream(int device = -1);

}  // namespace ember::cuda::detail

#define EMBER_CUDA_CHECK(call) ::ember::cuda::detail::check_status((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports a bad launch configuration at the launch site.
#define EMBER_CUDA_CHECK_LAUNCH() EMBER_CUDA_CHECK(cudaGetLastError())
