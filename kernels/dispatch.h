// Device dispatch for kernel families. Each family header declares the same entry points in
// kernels::cpu and kernels::cuda; ops call EMBER_KERNEL(device, name, args...) and get the CPU
// reference or the CUDA kernel. A build without CUDA raises a clear error for CUDA tensors.
#pragma once
#include <ember/core/device.h>
#include <ember/core/error.h>

namespace ember::kernels::detail {
[[noreturn]] inline void no_cuda(const char* kernel) {
  EMBER_FAIL(kernel, ": this build of Ember has no CUDA support (configured with EMBER_CUDA=OFF or without nvcc)");
}
}  // namespace ember::kernels::detail

#ifdef EMBER_WITH_CUDA
#define EMBER_KERNEL(device, name, ...)                                                    \
  ((device).is_cuda() ? ::ember::kernels::cuda::name(__VA_ARGS__) \
                      : ::ember::kernels::cpu::name(__VA_ARGS__))
#else
#define EMBER_KERNEL(device, name, ...) \
  ((device).is_cuda() ? ::ember::kernels::detail::no_cuda(#name) : ::ember::kernels::cpu::name(__VA_ARGS__))
#endif
