// Makes a device current for a scope (handles and descriptors are per device) and restores the
// previous one. Private to kernels/cuda.
#pragma once
#include <cuda_runtime.h>

#include <ember/core/cuda/check.h>

namespace ember::kernels::cuda {

class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    EMBER_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device != previous_) EMBER_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { cudaSetDevice(previous_); }  // never throws
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace ember::kernels::cuda
