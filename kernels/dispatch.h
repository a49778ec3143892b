// Device dispatch for kernel families. Each family header declares the same entry points in
// kernels::cpu and kernels::cuda; ops call EMBER_KERNEL(device, name, args...) and get the CPU
// reference or the CUDA kernel. A build without CUDA raises a clear error for CUDA tensors.
#pragma once
#include <ember/core/device.h>
#include <ember/core/error.h>
#include <ember/core/profiler.h>

namespace ember::kernels::detail {
[[noreturn]] inline void no_cuda(const char* kernel) {
  EMBER_FAIL(kernel, ": this build of Ember has no CUDA support (configured with EMBER_CUDA=OFF or without nvcc)");
}
}  // namespace ember::kernels::detail

// Each call is a KernelScope's lifetime: ember::profiler times it while recording (a temporary in a
// comma expression lives until the end of the full expression, so the call is inside it).
#ifdef EMBER_WITH_CUDA
#define EMBER_KERNEL(device, name, ...)                                                                  \
  (::ember::profiler::detail::KernelScope(#name, (device)),                                               \
   (device).is_cuda() ? ::ember::kernels::cuda::name(__VA_ARGS__) : ::ember::kernels::cpu::name(__VA_ARGS__))
#else
#define EMBER_KERNEL(device, name, ...)                              \
  (::ember::profiler::detail::KernelScope(#name, (device)),           \
   (device).is_cuda() ? ::ember::kernels::detail::no_cuda(#name) : ::ember::kernels::cpu::name(__VA_ARGS__))
#endif
