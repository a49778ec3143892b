// CUDA random fills: the same Philox words as the CPU reference, one counter per thread step.
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/philox.h>
#include <ember/kernels/random.h>

namespace ember::kernels::cuda {

namespace {
// out[4c + k] = low + (high - low) * uniform(philox(seed, offset + c)[k]), in double as on the CPU.
// kAligned: out is aligned to four elements, so a counter's values leave as one vector store.
template <typename T, bool kAligned>
__global__ void uniform_kernel(int64_t n, T* __restrict__ out, double low, double span, uint64_t seed,
                               uint64_t offset) {
  int64_t counters = (n + 3) / 4;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < counters;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = philox(seed, offset + c);
    Pack<T, 4> y;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const double u = sizeof(T) == 4 ? uniform_float(r.v[k]) : uniform_double(r.v[k]);
      y.v[k] = static_cast<T>(low + span * u);
    }
    const int64_t base = c * 4;
    if (kAligned && base + 4 <= n) {
      *reinterpret_cast<Pack<T, 4>*>(out + base) = y;
    } else {
      for (int k = 0; k < 4 && base + k < n; ++k) out[base + k] = y.v[k];
    }
  }
}

// out[2c], out[2c+1] = mean + stddev * box_muller(words (0,1) and (2,3) of philox(seed, offset + c)).
// kAligned: out is aligned to two elements (one vector store per counter).
template <typename T, bool kAligned>
__global__ void normal_kernel(int64_t n, T* __restrict__ out, double mean, double stddev, uint64_t seed,
                              uint64_t offset) {
  int64_t counters = (n + 1) / 2;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < counters;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = philox(seed, offset + c);
    const int64_t base = c * 2;
    Pack<T, 2> y;
    y.v[0] = static_cast<T>(mean + stddev * box_muller(r.v[0], r.v[1]));
    // The last counter of an odd n draws only its first value (the CPU reference does the same).
    if (base + 1 < n) y.v[1] = static_cast<T>(mean + stddev * box_muller(r.v[2], r.v[3]));
    if (kAligned && base + 2 <= n) {
      *reinterpret_cast<Pack<T, 2>*>(out + base) = y;
    } else {
      out[base] = y.v[0];
      if (base + 1 < n) out[base + 1] = y.v[1];
    }
  }
}
}  // namespace

void uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  int64_t n = out.numel();
  if (n == 0) return;
  dispatch_floating(out.dtype(), "uniform", [&](auto tag) {
    using T = decltype(tag);
    auto* p = static_cast<T*>(out.data_ptr());
    const int grid = grid_size((n + 3) / 4);
    if (is_aligned(p, 4 * sizeof(T)))
      uniform_kernel<T, true><<<grid, kBlockSize, 0, stream_of(out)>>>(n, p, low, high - low, seed, offset);
    else
      uniform_kernel<T, false><<<grid, kBlockSize, 0, stream_of(out)>>>(n, p, low, high - low, seed, offset);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

void normal(const Tensor& out, double mean, double stddev, uint64_t seed, uint64_t offset) {
  int64_t n = out.numel();
  if (n == 0) return;
  dispatch_floating(out.dtype(), "normal", [&](auto tag) {
    using T = decltype(tag);
    auto* p = static_cast<T*>(out.data_ptr());
    const int grid = grid_size((n + 1) / 2);
    if (is_aligned(p, 2 * sizeof(T)))
      normal_kernel<T, true><<<grid, kBlockSize, 0, stream_of(out)>>>(n, p, mean, stddev, seed, offset);
    else
      normal_kernel<T, false><<<grid, kBlockSize, 0, stream_of(out)>>>(n, p, mean, stddev, seed, offset);
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
