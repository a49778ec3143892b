// Launch helpers shared by Ember's CUDA kernels: grid sizing for grid-stride loops, the current
// stream, the post-launch check, and the aligned pack that vector loads and stores move.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include <ember/core/cuda/check.h>
#include <ember/core/tensor.h>

namespace ember::kernels::cuda {

constexpr int kBlockSize = 256;

// The number of SMs of the current device when first asked (Ember's devices are alike).
inline int device_sm_count() {
  static int sms = [] {
    int device = 0, count = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device);
    return std::max(count, 1);
  }();
  return sms;
}

// Enough blocks to fill the device a few times over; grid-stride loops cover the rest.
inline int grid_size(int64_t work_items, int block = kBlockSize) {
  const int max_blocks = device_sm_count() * 32;
  int64_t needed = (work_items + block - 1) / block;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(needed, max_blocks)));
}

// N consecutive elements as one aligned unit: a single 16-byte load or store for float x 4.
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// Whether `p` may be read or written as a Pack of `pack_bytes` (views can start mid-pack).
inline bool is_aligned(const void* p, size_t pack_bytes) { return reinterpret_cast<uintptr_t>(p) % pack_bytes == 0; }

inline cudaStream_t stream_of(const Tensor& t) { return ember::cuda::detail::current_raw_stream(t.device().index); }

}  // namespace ember::kernels::cuda
