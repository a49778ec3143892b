// Makes a device current for a scope (handles, descriptors and events belong to the device current
// at their creation; a kernel goes into a stream of the current device) and restores the previous
// one. Private to the library's CUDA code.
#pragma once
#include <cuda_runtime.h>

#include <ember/core/cuda/check.h>

namespace ember::cuda {

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

}  // namespace ember::cuda
