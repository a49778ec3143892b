// Ember's hand-written SGEMM: C = A @ B, row-major FP32, A (M x K), B (K x N), C (M x N).
//
// Design, step by step:
//  1. Block tiling. Each block of 256 threads owns a 128 x 128 tile of C and walks K in slices of
//     8: per slice it stages A[128 x 8] and B[8 x 128] in shared memory, so every value fetched
//     from global memory is reused 128 times from shared memory.
//  2. Register blocking. Each thread accumulates an 8 x 8 sub-tile of C in registers. Per k it
//     reads 8 values of A and 8 of B from shared memory and does 64 FMAs: 4 FMAs per shared load
//     instead of 1, which is what takes the kernel from shared-memory-bound to FMA-bound.
//  3. Thread -> sub-tile map. Thread (ty, tx) = (tid / 16, tid % 16) owns rows {4ty..4ty+3} and
//     {64+4ty..64+4ty+3}, columns {4tx..4tx+3} and {64+4tx..64+4tx+3}. The split halves let each
//     thread read its A and B fragments as two float4 each; across a warp the B reads cover 64
//     consecutive floats (no bank conflicts) and the A reads are broadcasts.
//  4. A is stored transposed in shared memory (As[k][m]) so the fragment along m is contiguous
//     and loads as float4; B keeps its layout (Bs[k][n]).
//  5. Global loads are float4: a 128 x 8 slice of A is 256 float4 (one per thread: row tid/2,
//     k offset 4*(tid%2)); an 8 x 128 slice of B is 256 float4 (row tid/32, column 4*(tid%32)).
//  6. Double buffering. Two shared buffers: while the block computes on slice t from buffer t%2,
//     each thread already has slice t+1 in flight from global memory into registers, and writes
//     it into the other buffer after its FMAs. One __syncthreads per slice suffices: the buffer
//     written in step t was last read in step t-1, which ended with a barrier.
//  7. Edges. The fast path needs M, N multiples of 128, K a multiple of 8 and 16-byte aligned
//     pointers (true at 4096^3). Any other shape runs the same kernel with kChecked = true: loads
//     outside the matrices read 0 (contributing nothing) and stores outside C are skipped.
#include <cstdint>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/gemm.h>

namespace ember::kernels::cuda {

namespace {

constexpr int kTileM = 128, kTileN = 128, kTileK = 8, kThreads = 256;

// Per step (see the design above): stage A/B slices, 8 x 8 outer products per thread, accumulate.
//   C[m][n] = sum_k A[m][k] * B[k][n]
template <bool kChecked>
__global__ void __launch_bounds__(kThreads)
    sgemm_tiled_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                       float* __restrict__ C) {
  __shared__ __align__(16) float As[2][kTileK][kTileM];
  __shared__ __align__(16) float Bs[2][kTileK][kTileN];

  const int tid = threadIdx.x;
  const int block_m = blockIdx.y * kTileM, block_n = blockIdx.x * kTileN;
  const int a_row = tid >> 1, a_k = (tid & 1) << 2;   // this thread's float4 of the A slice
  const int b_k = tid >> 5, b_col = (tid & 31) << 2;  // and of the B slice
  const int ty = tid >> 4, tx = tid & 15;

  float4 a_next, b_next;
  auto load_slice = [&](int k0) {
    const int row = block_m + a_row, col = block_n + b_col;
    if constexpr (!kChecked) {
      a_next = *reinterpret_cast<const float4*>(A + static_cast<size_t>(row) * K + k0 + a_k);
      b_next = *reinterpret_cast<const float4*>(B + static_cast<size_t>(k0 + b_k) * N + col);
    } else {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int ka = k0 + a_k + i;
        a[i] = row < M && ka < K ? A[static_cast<size_t>(row) * K + ka] : 0.0f;
        const int kb = k0 + b_k;
        b[i] = kb < K && col + i < N ? B[static_cast<size_t>(kb) * N + col + i] : 0.0f;
      }
      a_next = make_float4(a[0], a[1], a[2], a[3]);
      b_next = make_float4(b[0], b[1], b[2], b[3]);
    }
  };
  auto store_slice = [&](int buf) {
    As[buf][a_k + 0][a_row] = a_next.x;
    As[buf][a_k + 1][a_row] = a_next.y;
    As[buf][a_k + 2][a_row] = a_next.z;
    As[buf][a_k + 3][a_row] = a_next.w;
    *reinterpret_cast<float4*>(&Bs[buf][b_k][b_col]) = b_next;
  };

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  const int slices = (K + kTileK - 1) / kTileK;
  load_slice(0);
  store_slice(0);
  __syncthreads();

  for (int t = 0; t < slices; ++t) {
    const int cur = t & 1;
    if (t + 1 < slices) load_slice((t + 1) * kTileK);  // in flight during the FMAs below
#pragma unroll
    for (int k = 0; k < kTileK; ++k) {
      const float4 a_lo = *reinterpret_cast<const float4*>(&As[cur][k][ty * 4]);
      const float4 a_hi = *reinterpret_cast<const float4*>(&As[cur][k][64 + ty * 4]);
      const float4 b_lo = *reinterpret_cast<const float4*>(&Bs[cur][k][tx * 4]);
      const float4 b_hi = *reinterpret_cast<const float4*>(&Bs[cur][k][64 + tx * 4]);
      const float a[8] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w, a_hi.x, a_hi.y, a_hi.z, a_hi.w};
      const float b[8] = {b_lo.x, b_lo.y, b_lo.z, b_lo.w, b_hi.x, b_hi.y, b_hi.z, b_hi.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (t + 1 < slices) store_slice(cur ^ 1);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int row = block_m + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int col = block_n + half * 64 + tx * 4;
      const float* v = &acc[i][half * 4];
      if constexpr (!kChecked) {
        *reinterpret_cast<float4*>(C + static_cast<size_t>(row) * N + col) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
        if (row < M) {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            if (col + j < N) C[static_cast<size_t>(row) * N + col + j] = v[j];
        }
      }
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void sgemm_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  EMBER_CHECK(M >= 0 && N >= 0 && K >= 0 && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX,
              "sgemm_tiled: sizes out of range: M ", M, ", N ", N, ", K ", K);
  EMBER_CHECK(M <= int64_t(65535) * kTileM, "sgemm_tiled: M = ", M, " exceeds the grid's row limit");
  if (M == 0 || N == 0) return;
  cudaStream_t stream = ember::cuda::detail::current_raw_stream();
  if (K == 0) {
    EMBER_CUDA_CHECK(cudaMemsetAsync(C, 0, static_cast<size_t>(M) * N * sizeof(float), stream));
    return;
  }
  dim3 grid(static_cast<unsigned>((N + kTileN - 1) / kTileN), static_cast<unsigned>((M + kTileM - 1) / kTileM));
  const bool fast = M % kTileM == 0 && N % kTileN == 0 && K % kTileK == 0 && aligned16(A) && aligned16(B) &&
                    aligned16(C);
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  if (fast) sgemm_tiled_kernel<false><<<grid, kThreads, 0, stream>>>(m, n, k, A, B, C);
  else sgemm_tiled_kernel<true><<<grid, kThreads, 0, stream>>>(m, n, k, A, B, C);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::kernels::cuda
