// Step 6 of the hand-written SGEMM ladder (docs/perf-notes.md, "Hand-written SGEMM"): a warp-tiled
// SGEMM, C = A @ B, row-major FP32, A (M x K), B (K x N), C (M x N); same contract as sgemm_tiled
// (sgemm.cu), any sizes and pointers. The configuration (block tile, warp tile, lane tile) is a
// template; kSgemmWarpTiles in kernels/gemm.h lists the compiled ones, step 6 is the first.
//
// Design, step by step (the production kernel's points 1, 2, 5, 6 and 8 carry over unchanged):
//  1. Block tiling. A block of (BM/WM)*(BN/WN) warps owns a BM x BN tile of C and walks K in
//     slices of BK, staging A[BM x BK] and B[BK x BN] in shared memory.
//  2. Warp tiling. Warp w = (wy, wx) = (w / (BN/WN), w % (BN/WN)) owns the WM x WN sub-tile of C at
//     rows wy*WM, columns wx*WN. Where sgemm.cu spreads a warp's outputs over the whole block tile
//     (its lanes' B fragments span 256 bytes of a row of Bs), here a warp only ever reads the
//     WM-wide strip of As and the WN-wide strip of Bs its sub-tile needs.
//  3. Warp sub-tiles. The warp walks its tile as WMI x WNI sub-tiles of SM x SN = (WM/WMI) x
//     (WN/WNI). Inside a sub-tile the 32 lanes form an LM x LN grid (LM = SM/4, LN = SN/4, LM*LN =
//     32), lane (lm, ln) = (lane / LN, lane % LN) owning the 4 x 4 outputs at rows lm*4..+3,
//     columns ln*4..+3. A lane thus holds (4*WMI) x (4*WNI) accumulators, 8 x 8 = 64 for a 2 x 2
//     walk, and per k reads its fragments as WMI float4 of A and WNI float4 of B.
//  4. Shared loads per FMA. Per k a lane does 16*WMI*WNI FMAs on 4*(WMI+WNI) loaded floats: 64
//     FMAs per 16 floats (4 per float, as sgemm.cu) for 2 x 2, 128 per 24 (5.3) for 2 x 4.
//  5. Banks of the fragment reads. A warp's float4 read of A covers LM distinct float4 (the LN
//     lanes that share an lm read the same address: a broadcast), contiguous along m; its read of
//     B covers LN distinct contiguous float4. With LM, LN <= 8 that is at most 128 contiguous bytes,
//     32 distinct banks: one shared-memory wavefront per read. Per k a warp of the 2 x 2 walk needs
//     4 wavefronts for its 64 FMA instructions; sgemm.cu's warp needs 6 (its B read spans 256 bytes,
//     2 wavefronts, twice). This is the gain warp tiling buys at equal registers: ~1/3 less
//     shared-memory traffic per FMA, so more slack for the FMA pipe at the same occupancy.
//  6. A is stored transposed (As[k][m], rows padded to BM + 4 floats: 16-byte aligned for the
//     float4 fragment reads). Global loads are float4 along k; the load map is chosen so that the
//     transposing store is conflict-free for any BK that is a multiple of 8: float4 f of the slice
//     is row (f/2) % BM, k = 8 * ((f/2) / BM) + 4 * (f % 2). A warp's 32 loads then cover 16
//     consecutive rows x 8 consecutive k (one 32-byte sector a row: fully used sectors), and its
//     store of component c writes k in {k0 + c, k0 + 4 + c} x 16 rows: with a row stride of BM + 4
//     = 4 (mod 8) the two k are 4 * (BM + 4) = 16 (mod 32) banks apart, so the 32 stores hit 32
//     banks. (sgemm.cu's map, 4 lanes a row, leaves a 2-way conflict at BK = 16.) B is loaded and
//     stored as float4 along n, a warp covering 512 contiguous bytes of a row: coalesced and
//     conflict-free.
//  7. Double buffering as in sgemm.cu (the staging of points 6 and 7 is SliceStager in
//     sgemm_common.cuh, shared by both kernels; the A map is this kernel's): slice t+1 travels from global memory into registers while
//     slice t is multiplied from shared buffer t%2, then goes into the other buffer; one
//     __syncthreads per slice (the buffer written in step t was last read in step t-1, which
//     ended with a barrier).
//  8. Edges (kChecked). The fast path needs M % BM, N % BN, K % BK == 0 and 16-byte aligned
//     pointers; anything else runs the same kernel with kChecked = true: loads outside A or B read
//     0 (element by element, so any alignment works) and stores outside C are skipped. No thread
//     leaves early, so every barrier is reached by the whole block.
//  9. Registers and occupancy (ptxas -v, sm_90, CUDA 13.0, fast path; the table is in
//     docs/perf-notes.md). A 2 x 2 walk holds 64 accumulators, 16 fragment floats and
//     (BM*BK + BK*BN) / threads floats in flight: at 128x128x8 with 256 threads ptxas needs 125
//     registers, no spill, so min_blocks = 2 (16 warps an SM) is free, as for sgemm.cu's default;
//     at 128x128x16 (twice the loads in flight) it needs 155, and capped at 128 for 2 blocks it
//     spills 116 bytes, so both are compiled. The 2 x 4 walk (8 x 16 a lane, 4 warps a block)
//     needs 231 registers: 2 blocks (8 warps) an SM; fewer warps to hide latency with, but 1/3
//     more FMAs per shared load.
#include <cstdint>
#include <iterator>
#include <utility>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/sgemm_common.cuh>
#include <ember/kernels/gemm.h>

namespace ember::kernels::cuda {

namespace {

// The compile-time layout of one configuration (see the design above).
template <int BM, int BN, int BK, int WM, int WN, int WMI, int WNI>
struct WarpTile {
  static constexpr int kWarpsN = BN / WN;                     // warps along n: w = wy * kWarpsN + wx
  static constexpr int kThreads = (BM / WM) * kWarpsN * 32;
  static constexpr int kSubM = WM / WMI, kSubN = WN / WNI;  // a warp sub-tile (3.)
  static constexpr int kLanesN = kSubN / 4;                   // lanes along n in a sub-tile
  static constexpr int kLaneM = 4 * WMI, kLaneN = 4 * WNI;    // outputs a lane holds
  static_assert(BM % WM == 0 && BN % WN == 0, "the warp tile must divide the block tile");
  static_assert(WM % WMI == 0 && WN % WNI == 0 && kSubM % 4 == 0 && kSubN % 4 == 0,
                "a warp sub-tile must be a whole number of 4 x 4 lane tiles");
  static_assert((kSubM / 4) * (kSubN / 4) == 32, "a warp sub-tile must hold 32 lane tiles");
  static_assert(kSubM / 4 <= 8 && kSubN / 4 <= 8, "fragment reads wider than 128 bytes (design point 5)");
  static_assert(BK % 8 == 0, "BK must be a multiple of 8 (the A load map, design point 6)");
  static_assert(BM % 16 == 0, "BM must be a multiple of 16 (a warp's A loads cover 16 rows)");
  static_assert(kThreads >= 32 && kThreads <= 1024, "the block must have 32..1024 threads");
};

// The load map of A (6.): float4 f of the BM x BK slice is row (f/2) % BM, k 8 * ((f/2) / BM) +
// 4 * (f % 2), so a warp's transposing store hits 32 banks.
template <int BM>
struct ALoadMap {
  static __device__ __forceinline__ int row(int f) { return (f / 2) % BM; }
  static __device__ __forceinline__ int k(int f) { return 8 * ((f / 2) / BM) + 4 * (f % 2); }
};

// Per slice: stage the A/B slices, then every lane accumulates its (4*WMI) x (4*WNI) outer
// products from the warp's strips of As and Bs.
//   C[m][n] = sum_k A[m][k] * B[k][n]
template <int BM, int BN, int BK, int WM, int WN, int WMI, int WNI, int kMinBlocks, bool kChecked>
__global__ void __launch_bounds__(WarpTile<BM, BN, BK, WM, WN, WMI, WNI>::kThreads, kMinBlocks)
    sgemm_warptile_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                          float* __restrict__ C) {
  using T = WarpTile<BM, BN, BK, WM, WN, WMI, WNI>;
  using Stager = sgemm_detail::SliceStager<BM, BN, BK, T::kThreads, ALoadMap<BM>, kChecked>;
  __shared__ __align__(16) float As[2][BK][Stager::kAStride];
  __shared__ __align__(16) float Bs[2][BK][BN];

  const int tid = threadIdx.x;
  const int block_m = blockIdx.y * BM, block_n = blockIdx.x * BN;
  const int warp = tid / 32, lane = tid % 32;
  // The first row / column of this lane's 4 x 4 tile in the warp's first sub-tile, within the block.
  const int lane_m = (warp / T::kWarpsN) * WM + (lane / T::kLanesN) * 4;
  const int lane_n = (warp % T::kWarpsN) * WN + (lane % T::kLanesN) * 4;

  Stager stager(A, B, M, N, K, block_m, block_n, tid);
  float acc[T::kLaneM][T::kLaneN];
  sgemm_detail::zero(acc);

  // Per k: this lane's fragments from the warp's strips of As and Bs (3.), then its outer products.
  auto multiply_slice = [&](int buf) {
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[T::kLaneM], b[T::kLaneN];
#pragma unroll
      for (int i = 0; i < WMI; ++i) {
        const float4 v = *reinterpret_cast<const float4*>(&As[buf][k][lane_m + i * T::kSubM]);
        a[4 * i + 0] = v.x;
        a[4 * i + 1] = v.y;
        a[4 * i + 2] = v.z;
        a[4 * i + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < WNI; ++j) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[buf][k][lane_n + j * T::kSubN]);
        b[4 * j + 0] = v.x;
        b[4 * j + 1] = v.y;
        b[4 * j + 2] = v.z;
        b[4 * j + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < T::kLaneM; ++i)
#pragma unroll
        for (int j = 0; j < T::kLaneN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  };

  // The K loop, double buffered (6., 7.): each slice staged in shared memory, then multiplied.
  stager.walk_k(As, Bs, multiply_slice);

  // Accumulator (4*i + r, 4*j + c) is C's element at row lane_m + i*kSubM + r, column
  // lane_n + j*kSubN + c of the block tile: a float4 store per (i, r, j).
#pragma unroll
  for (int i = 0; i < T::kLaneM; ++i) {
    const int row = block_m + lane_m + (i / 4) * T::kSubM + i % 4;
#pragma unroll
    for (int j = 0; j < WNI; ++j) {
      const int col = block_n + lane_n + j * T::kSubN;
      sgemm_detail::store4<kChecked>(C, row, col, M, N, &acc[i][4 * j]);
    }
  }
}

// Checks the sizes, then launches the fast or the checked kernel of one configuration.
template <int BM, int BN, int BK, int WM, int WN, int WMI, int WNI, int kMinBlocks>
void launch_warptile(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  const sgemm_detail::Launch l = sgemm_detail::plan_launch("sgemm_warptile", M, N, K, BM, BN, BK, A, B, C);
  if (!l.run) return;
  constexpr int kThreads = WarpTile<BM, BN, BK, WM, WN, WMI, WNI>::kThreads;
  if (l.fast)
    sgemm_warptile_kernel<BM, BN, BK, WM, WN, WMI, WNI, kMinBlocks, false><<<l.grid, kThreads, 0, l.stream>>>(
        l.m, l.n, l.k, A, B, C);
  else
    sgemm_warptile_kernel<BM, BN, BK, WM, WN, WMI, WNI, kMinBlocks, true><<<l.grid, kThreads, 0, l.stream>>>(
        l.m, l.n, l.k, A, B, C);
  EMBER_CUDA_CHECK_LAUNCH();
}

using Launcher = void (*)(int64_t, int64_t, int64_t, const float*, const float*, float*);

template <size_t I>
constexpr Launcher warptile_launcher_at() {
  constexpr SgemmWarpTile t = kSgemmWarpTiles[I];
  return &launch_warptile<t.bm, t.bn, t.bk, t.wm, t.wn, t.wm_iter, t.wn_iter, t.min_blocks>;
}

// The launcher of kSgemmWarpTiles[I] for the I whose configuration equals `config`; null if none.
template <size_t... I>
Launcher warptile_launcher(const SgemmWarpTile& config, std::index_sequence<I...>) {
  Launcher found = nullptr;
  ((found = found == nullptr && config == kSgemmWarpTiles[I] ? warptile_launcher_at<I>() : found), ...);
  return found;
}

}  // namespace

void sgemm_warptile(const SgemmWarpTile& config, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                    float* C) {
  Launcher launch = warptile_launcher(config, std::make_index_sequence<std::size(kSgemmWarpTiles)>());
  EMBER_CHECK(launch != nullptr, "sgemm_warptile: no kernel compiled for the configuration ",
              sgemm_warp_tile_name(config), " (kSgemmWarpTiles in kernels/gemm.h lists them)");
  launch(M, N, K, A, B, C);
}

namespace sgemm_steps {
void warp_tiled(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  warptile_launcher_at<0>()(M, N, K, A, B, C);
}
}  // namespace sgemm_steps

}  // namespace ember::kernels::cuda
