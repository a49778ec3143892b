// Ember's hand-written SGEMM: C = A @ B, row-major FP32, A (M x K), B (K x N), C (M x N).
// It is steps 4 and 5 of the ladder in docs/perf-notes.md ("Hand-written SGEMM"); steps 0-3 are
// in sgemm_steps.cu. The block tile BM x BN x BK is a template parameter (kSgemmTiles in
// kernels/gemm.h lists the compiled ones; the default is 128 x 128 x 8).
//
// Design, step by step:
//  1. Block tiling. Each block of (BM/8)*(BN/8) threads owns a BM x BN tile of C and walks K in
//     slices of BK: per slice it stages A[BM x BK] and B[BK x BN] in shared memory, so every value
//     fetched from global memory is reused BN (A) or BM (B) times from shared memory.
//  2. Register blocking. Each thread accumulates an 8 x 8 sub-tile of C in registers. Per k it
//     reads 8 values of A and 8 of B from shared memory and does 64 FMAs: 4 FMAs per shared load
//     instead of 1, which is what takes the kernel from shared-memory-bound to FMA-bound.
//  3. Thread -> sub-tile map. Thread (ty, tx) = (tid / (BN/8), tid % (BN/8)) owns rows
//     {4ty..4ty+3} and {BM/2+4ty..BM/2+4ty+3}, columns {4tx..4tx+3} and {BN/2+4tx..BN/2+4tx+3}.
//     The split halves let each thread read its A and B fragments as two float4 each; across a
//     warp the B reads cover consecutive floats (no bank conflicts) and the A reads are broadcasts.
//  4. A is stored transposed in shared memory (As[k][m]) so the fragment along m is contiguous
//     and loads as float4; B keeps its layout (Bs[k][n]). The transposing store writes, per warp,
//     16 rows m at two k that are 4 apart (BK = 8); each row of As is padded by 4 floats so those
//     two k land 16 banks apart instead of on the same bank (a 2-way conflict without the pad;
//     with BK = 16 four k meet and the pad leaves 2-way instead of 4-way). The pad keeps the
//     rows 16-byte aligned for the float4 fragment reads.
//  5. Global loads are float4: the BM x BK slice of A is BM*BK/4 float4, the BK x BN slice of B
//     BK*BN/4; thread tid moves float4 number tid + i * threads (i = 0, 1, ...) of each, which
//     for consecutive threads walks along a row (coalesced). Points 4-6 are the staging this kernel
//     shares with the warp-tiled one (SliceStager in sgemm_common.cuh); the A map is its own.
//  6. Double buffering (kDoubleBuffer, step 5; step 4 is the same kernel without it). Two shared
//     buffers: while the block computes on slice t from buffer t%2, each thread already has slice
//     t+1 in flight from global memory into registers, and writes it into the other buffer after
//     its FMAs. One __syncthreads per slice suffices: the buffer written in step t was last read
//     in step t-1, which ended with a barrier. With one buffer each slice is loaded, stored,
//     synchronised, multiplied and synchronised again, so the load latency is exposed.
//  7. Occupancy. 64 accumulators, 16 fragment values and the loads in flight want ~120-160
//     registers a thread; kMinBlocks (__launch_bounds__) caps them so that many blocks fit on
//     an SM, at the price of spills where the cap is below what ptxas wanted. The sweep in
//     kSgemmTiles has both for the tiles where it matters (ptxas -v, sm_90: 128x128x8 needs 127,
//     no cap needed for 2 blocks; 128x128x16, 128x64x8 and 64x64x8 want ~150-157 and spill a
//     little when capped at 128).
//  8. Edges. The fast path needs M % BM, N % BN, K % BK == 0 and 16-byte aligned pointers (true
//     at 4096^3). Any other shape runs the same kernel with kChecked = true: loads outside the
//     matrices read 0 (contributing nothing) and stores outside C are skipped.
#include <cstdint>
#include <iterator>
#include <utility>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/sgemm_common.cuh>
#include <ember/kernels/gemm.h>

namespace ember::kernels::cuda {

namespace {

// The compile-time layout of a BM x BN x BK block tile (see the design above).
template <int BM, int BN, int BK>
struct Tile {
  static constexpr int kThreads = (BM / 8) * (BN / 8);
  static constexpr int kThreadCols = BN / 8;  // threads along n: tid = ty * kThreadCols + tx
  static_assert(BM % 32 == 0 && BN % 32 == 0, "BM and BN must be multiples of 32 (the warp's map)");
  static_assert(kThreads >= 32 && kThreads <= 1024, "the block must have 32..1024 threads");
};

// The load map of A (5.): float4 f of the BM x BK slice is row f / (BK/4), k 4 * (f % (BK/4)), so
// BK/4 consecutive threads cover a row.
template <int BK>
struct ALoadMap {
  static __device__ __forceinline__ int row(int f) { return f / (BK / 4); }
  static __device__ __forceinline__ int k(int f) { return 4 * (f % (BK / 4)); }
};

// Per slice (see the design above): stage A/B slices, 8 x 8 outer products per thread, accumulate.
//   C[m][n] = sum_k A[m][k] * B[k][n]
template <int BM, int BN, int BK, int kMinBlocks, bool kDoubleBuffer, bool kChecked>
__global__ void __launch_bounds__(Tile<BM, BN, BK>::kThreads, kMinBlocks)
    sgemm_tiled_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                       float* __restrict__ C) {
  using T = Tile<BM, BN, BK>;
  using Stager = sgemm_detail::SliceStager<BM, BN, BK, T::kThreads, ALoadMap<BK>, kChecked>;
  constexpr int kBuffers = kDoubleBuffer ? 2 : 1;
  __shared__ __align__(16) float As[kBuffers][BK][Stager::kAStride];
  __shared__ __align__(16) float Bs[kBuffers][BK][BN];

  const int tid = threadIdx.x;
  const int block_m = blockIdx.y * BM, block_n = blockIdx.x * BN;
  const int ty = tid / T::kThreadCols, tx = tid % T::kThreadCols;

  Stager stager(A, B, M, N, K, block_m, block_n, tid);
  float acc[8][8];
  sgemm_detail::zero(acc);

  // Per k: this thread's 8 values of A and 8 of B as two float4 each (3.), then 64 FMAs.
  auto multiply_slice = [&](int buf) {
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      const float4 a_lo = *reinterpret_cast<const float4*>(&As[buf][k][ty * 4]);
      const float4 a_hi = *reinterpret_cast<const float4*>(&As[buf][k][BM / 2 + ty * 4]);
      const float4 b_lo = *reinterpret_cast<const float4*>(&Bs[buf][k][tx * 4]);
      const float4 b_hi = *reinterpret_cast<const float4*>(&Bs[buf][k][BN / 2 + tx * 4]);
      const float a[8] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w, a_hi.x, a_hi.y, a_hi.z, a_hi.w};
      const float b[8] = {b_lo.x, b_lo.y, b_lo.z, b_lo.w, b_hi.x, b_hi.y, b_hi.z, b_hi.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  };

  // The K loop: each slice staged in shared memory (4.-6.), then multiplied.
  stager.walk_k(As, Bs, multiply_slice);

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int row = block_m + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + (i - 4));
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int col = block_n + half * (BN / 2) + tx * 4;
      sgemm_detail::store4<kChecked>(C, row, col, M, N, &acc[i][half * 4]);
    }
  }
}

// Checks the sizes, then launches the fast or the checked kernel for the tile BM x BN x BK, its
// registers capped so that kMinBlocks blocks fit on an SM.
template <int BM, int BN, int BK, int kMinBlocks, bool kDoubleBuffer>
void launch_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  const sgemm_detail::Launch l = sgemm_detail::plan_launch("sgemm_tiled", M, N, K, BM, BN, BK, A, B, C);
  if (!l.run) return;
  constexpr int kThreads = Tile<BM, BN, BK>::kThreads;
  if (l.fast)
    sgemm_tiled_kernel<BM, BN, BK, kMinBlocks, kDoubleBuffer, false><<<l.grid, kThreads, 0, l.stream>>>(
        l.m, l.n, l.k, A, B, C);
  else
    sgemm_tiled_kernel<BM, BN, BK, kMinBlocks, kDoubleBuffer, true><<<l.grid, kThreads, 0, l.stream>>>(
        l.m, l.n, l.k, A, B, C);
  EMBER_CUDA_CHECK_LAUNCH();
}

using Launcher = void (*)(int64_t, int64_t, int64_t, const float*, const float*, float*);

// The double-buffered launcher of kSgemmTiles[I] for the I whose tile equals `tile`; null if none.
template <size_t... I>
Launcher tiled_launcher(const SgemmTile& tile, std::index_sequence<I...>) {
  Launcher found = nullptr;
  ((found = found == nullptr && tile == kSgemmTiles[I]
                ? &launch_tiled<kSgemmTiles[I].bm, kSgemmTiles[I].bn, kSgemmTiles[I].bk, kSgemmTiles[I].min_blocks,
                                true>
                : found),
   ...);
  return found;
}

constexpr SgemmTile kDefaultTile = kSgemmTiles[0];

}  // namespace

void sgemm_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  launch_tiled<kDefaultTile.bm, kDefaultTile.bn, kDefaultTile.bk, kDefaultTile.min_blocks, true>(M, N, K, A, B, C);
}

void sgemm_tiled(const SgemmTile& tile, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  Launcher launch = tiled_launcher(tile, std::make_index_sequence<std::size(kSgemmTiles)>());
  EMBER_CHECK(launch != nullptr, "sgemm_tiled: no kernel compiled for the tile ", sgemm_tile_name(tile),
              " (kSgemmTiles in kernels/gemm.h lists them)");
  launch(M, N, K, A, B, C);
}

namespace sgemm_steps {
void single_buffer(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  launch_tiled<kDefaultTile.bm, kDefaultTile.bn, kDefaultTile.bk, kDefaultTile.min_blocks, false>(M, N, K, A, B, C);
}
}  // namespace sgemm_steps

}  // namespace ember::kernels::cuda
