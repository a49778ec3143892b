// CUDA random fills: the same Philox words as the CPU reference, one counter per thread step.
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/philox.h>
#include <ember/kernels/random.h>

namespace ember::kernels::cuda {

namespace {
// out[4c + k] = low + (high - low) * uniform(philox(seed, offset + c)[k]), in double as on the CPU
template <typename T>
__global__ void uniform_kernel(int64_t n, T* out, double low, double span, uint64_t seed, uint64_t offset) {
  int64_t counters = (n + 3) / 4;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < counters;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Philox4 r = philox(seed, offset + c);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if (c * 4 + k < n) {
        double u = sizeof(T) == 4 ? uniform_float(r.v[k]) : uniform_double(r.v[k]);
        out[c * 4 + k] = static_cast<T>(low + span * u);
      }
    }
  }
}

// out[2c], out[2c+1] = mean + stddev * box_muller(words (0,1) and (2,3) of philox(seed, offset + c))
template <typename T>
__global__ void normal_kernel(int64_t n, T* out, double mean, double stddev, uint64_t seed, uint64_t offset) {
  int64_t counters = (n + 1) / 2;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < counters;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Philox4 r = philox(seed, offset + c);
    out[c * 2] = static_cast<T>(mean + stddev * box_muller(r.v[0], r.v[1]));
    if (c * 2 + 1 < n) out[c * 2 + 1] = static_cast<T>(mean + stddev * box_muller(r.v[2], r.v[3]));
  }
}
}  // namespace

void uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  int64_t n = out.numel();
  if (n == 0) return;
  dispatch_floating(out.dtype(), "uniform", [&](auto tag) {
    using T = decltype(tag);
    uniform_kernel<T><<<grid_size((n + 3) / 4), kBlockSize, 0, stream_of(out)>>>(
        n, static_cast<T*>(out.data_ptr()), low, high - low, seed, offset);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void normal(const Tensor& out, double mean, double stddev, uint64_t seed, uint64_t offset) {
  int64_t n = out.numel();
  if (n == 0) return;
  dispatch_floating(out.dtype(), "normal", [&](auto tag) {
    using T = decltype(tag);
    normal_kernel<T><<<grid_size((n + 1) / 2), kBlockSize, 0, stream_of(out)>>>(
        n, static_cast<T*>(out.data_ptr()), mean, stddev, seed, offset);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
