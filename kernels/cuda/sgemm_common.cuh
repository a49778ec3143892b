// What Ember's two hand-written SGEMM families share (sgemm.cu: block-tiled, steps 4-5;
// sgemm_warptile.cu: warp-tiled, step 6): the edge-aware float4 load and the launch preamble that
// checks sizes and picks the fast or the checked kernel. Private to kernels/cuda.
#pragma once
#include <cstdint>

#include <ember/kernels/cuda/launch.cuh>

namespace ember::kernels::cuda::sgemm_detail {

// The four floats at (row, col..col+3) of a row-major rows x cols matrix. kChecked: any of them
// outside the matrix reads 0, and no alignment is assumed; otherwise they must be inside and
// 16-byte aligned.
template <bool kChecked>
__device__ __forceinline__ float4 load4(const float* __restrict__ p, int row, int col, int rows, int cols) {
  if constexpr (!kChecked) {
    return *reinterpret_cast<const float4*>(p + static_cast<size_t>(row) * cols + col);
  } else {
    float v[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      v[i] = row < rows && col + i < cols ? p[static_cast<size_t>(row) * cols + col + i] : 0.0f;
    return make_float4(v[0], v[1], v[2], v[3]);
  }
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// One launch of a kernel with a BM x BN block tile over C (M x N), K deep.
struct Launch {
  bool run = false;   // false: nothing to launch (an empty C, or K = 0 and C was zeroed)
  bool fast = false;  // sizes multiples of the tile and 16-byte aligned pointers: the unchecked kernel
  dim3 grid;
  cudaStream_t stream = nullptr;
  int m = 0, n = 0, k = 0;
};

// Checks the sizes (`who` names the caller in errors), zeroes C when K = 0, and says how to launch.
inline Launch plan_launch(const char* who, int64_t M, int64_t N, int64_t K, int BM, int BN, int BK, const float* A,
                          const float* B, float* C) {
  EMBER_CHECK(M >= 0 && N >= 0 && K >= 0 && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX, who,
              ": sizes out of range: M ", M, ", N ", N, ", K ", K);
  EMBER_CHECK(M <= int64_t(65535) * BM, who, ": M = ", M, " exceeds the grid's row limit");
  Launch l;
  if (M == 0 || N == 0) return l;
  l.stream = ember::cuda::detail::current_raw_stream();
  if (K == 0) {
    EMBER_CUDA_CHECK(cudaMemsetAsync(C, 0, static_cast<size_t>(M) * N * sizeof(float), l.stream));
    return l;
  }
  l.run = true;
  l.grid = dim3(static_cast<unsigned>((N + BN - 1) / BN), static_cast<unsigned>((M + BM - 1) / BM));
  l.fast = M % BM == 0 && N % BN == 0 && K % BK == 0 && aligned16(A) && aligned16(B) && aligned16(C);
  l.m = static_cast<int>(M);
  l.n = static_cast<int>(N);
  l.k = static_cast<int>(K);
  return l;
}

}  // namespace ember::kernels::cuda::sgemm_detail
