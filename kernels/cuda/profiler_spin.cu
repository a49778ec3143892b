// The spin kernel of ember::profiler (core/cuda/kernel_timing.cpp): one thread reads the SM clock
// until `cycles` have passed, so that the work queued behind it (a timed call and its events) is
// all in the stream before the GPU gets to it.
#include <ember/core/cuda/check.h>
#include <ember/core/cuda/kernel_timing.h>

namespace ember::cuda::detail {

namespace {
__global__ void spin_kernel(long long cycles) {
  const long long begin = clock64();
  while (clock64() - begin < cycles) {
  }
}
}  // namespace

void queue_spin(void* stream, int64_t cycles) {
  spin_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<long long>(cycles));
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda::detail
