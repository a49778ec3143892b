// Steps 0-3 of the hand-written SGEMM ladder (docs/perf-notes.md, "Hand-written SGEMM"): each a
// small kernel that adds one idea to the one before, so bench_kernels can measure what each idea
// gains on the GPU at hand. Steps 4 and 5 are the production kernel (sgemm.cu), step 6 the
// warp-tiled kernel (sgemm_warptile.cu). Not used by ops.
//
// All compute C = A @ B, row-major FP32, A (M x K), B (K x N), C (M x N), accumulating in FP32
// with fmaf in increasing k (per thread). They handle any sizes with bounds checks everywhere
// (loads outside the matrices read 0, stores outside C are skipped), which costs a little but
// keeps each kernel short; the production kernel has a separate unchecked fast path.
//
// What bounds each step, per FMA (2 flops):
//   step 0: 2 loads from L1/L2 (no reuse in registers or shared memory)
//   step 1: 2 loads from shared memory (global traffic / 32)
//   step 2: 9 shared loads per 8 FMAs (a B value reused 8 times from a register)
//   step 3: 16 shared loads per 64 FMAs (8 A and 8 B values, 64 outer-product FMAs)
#include <cstdint>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/cuda/sgemm_common.cuh>
#include <ember/kernels/gemm.h>

namespace ember::kernels::cuda::sgemm_steps {

namespace {

// Checks the sizes for a grid with `rows_per_block` rows of C per block along y; false when C is
// empty (nothing to launch: a grid of 0 blocks is an error).
bool check_sizes(const char* step, int64_t M, int64_t N, int64_t K, int64_t rows_per_block) {
  using sgemm_detail::kMaxExtent;
  EMBER_CHECK(M >= 0 && N >= 0 && K >= 0 && M <= kMaxExtent && N <= kMaxExtent && K <= kMaxExtent, step,
              ": sizes out of range: M ", M, ", N ", N, ", K ", K);
  EMBER_CHECK(M <= int64_t(65535) * rows_per_block, step, ": M = ", M, " exceeds the grid's row limit");
  return M > 0 && N > 0;
}

dim3 grid_for(int64_t M, int64_t N, int tile_m, int tile_n) {
  return dim3(static_cast<unsigned>((N + tile_n - 1) / tile_n), static_cast<unsigned>((M + tile_m - 1) / tile_m));
}

// A[row][col] of a row-major rows x cols matrix, 0 outside it.
__device__ __forceinline__ float load_or_zero(const float* __restrict__ p, int row, int col, int rows, int cols) {
  return row < rows && col < cols ? p[static_cast<size_t>(row) * cols + col] : 0.0f;
}

// ---- Step 0: naive ---------------------------------------------------------------------------
// One thread per element: C[m][n] = sum_k A[m][k] * B[k][n], every operand read from global memory
// (L1/L2 catch the reuse, nothing else does). threadIdx.x runs along n, so a warp reads 32
// consecutive floats of a row of B (coalesced) and one float of A (a broadcast), and writes 32
// consecutive floats of C. Blocks of 32 x 8 threads.
constexpr int kNaiveCols = 32, kNaiveRows = 8;

__global__ void __launch_bounds__(kNaiveCols* kNaiveRows)
    naive_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C) {
  const int n = blockIdx.x * kNaiveCols + threadIdx.x, m = blockIdx.y * kNaiveRows + threadIdx.y;
  if (m >= M || n >= N) return;
  const float* a = A + static_cast<size_t>(m) * K;
  float acc = 0.0f;
  for (int k = 0; k < K; ++k) acc = fmaf(a[k], B[static_cast<size_t>(k) * N + n], acc);
  C[static_cast<size_t>(m) * N + n] = acc;
}

// ---- Step 1: shared-memory tiles -------------------------------------------------------------
// A block of 32 x 32 threads computes a 32 x 32 tile of C, one output per thread. Per slice of
// 32 along K it stages A[32 x 32] and B[32 x 32] in shared memory (each thread one float of each,
// coalesced along the rows), then each thread does 32 FMAs reading As[ty][k] (a broadcast: a warp
// shares ty) and Bs[k][tx] (32 consecutive floats: no bank conflict). Each global value is now
// fetched once per block instead of once per thread: global traffic / 32. Shared memory still
// feeds two loads per FMA, which is what bounds this step.
constexpr int kSharedTile = 32;

__global__ void __launch_bounds__(kSharedTile* kSharedTile)
    shared_tiles_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                        float* __restrict__ C) {
  __shared__ float As[kSharedTile][kSharedTile];
  __shared__ float Bs[kSharedTile][kSharedTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int m = blockIdx.y * kSharedTile + ty, n = blockIdx.x * kSharedTile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += kSharedTile) {
    As[ty][tx] = load_or_zero(A, m, k0 + tx, M, K);
    Bs[ty][tx] = load_or_zero(B, k0 + ty, n, K, N);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kSharedTile; ++k) acc = fmaf(As[ty][k], Bs[k][tx], acc);
    __syncthreads();  // before the next slice overwrites the tiles
  }
  if (m < M && n < N) C[static_cast<size_t>(m) * N + n] = acc;
}

// ---- Step 2: 1-D register blocking -----------------------------------------------------------
// A block of 512 threads computes a 64 x 64 tile of C; thread (ty, tx) = (tid / 64, tid % 64) a
// column of 8 outputs, rows 8ty..8ty+7, column tx. Per slice of 8 along K each thread stages one
// float of A[64 x 8] and one of B[8 x 64]; then per k it holds Bs[k][tx] in a register and does 8
// FMAs with As[8ty+i][k] (broadcasts: a warp shares ty): 9 shared loads per 8 FMAs instead of 2
// per 1, and each block reuses every staged value 64 times.
constexpr int kColTileM = 64, kColTileN = 64, kColTileK = 8, kColOutputs = 8;
constexpr int kColThreads = kColTileM * kColTileN / kColOutputs;  // 512
static_assert(kColTileM * kColTileK == kColThreads && kColTileK * kColTileN == kColThreads,
              "one A and one B value per thread per slice");

__global__ void __launch_bounds__(kColThreads)
    register_column_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                           float* __restrict__ C) {
  __shared__ float As[kColTileM][kColTileK];
  __shared__ float Bs[kColTileK][kColTileN];
  const int tid = threadIdx.x;
  const int block_m = blockIdx.y * kColTileM, block_n = blockIdx.x * kColTileN;
  const int ty = tid / kColTileN, tx = tid % kColTileN;
  const int a_row = tid / kColTileK, a_k = tid % kColTileK;  // this thread's float of the A slice
  const int b_k = tid / kColTileN, b_col = tid % kColTileN;  // and of the B slice
  float acc[kColOutputs] = {};
  for (int k0 = 0; k0 < K; k0 += kColTileK) {
    As[a_row][a_k] = load_or_zero(A, block_m + a_row, k0 + a_k, M, K);
    Bs[b_k][b_col] = load_or_zero(B, k0 + b_k, block_n + b_col, K, N);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kColTileK; ++k) {
      const float b = Bs[k][tx];
#pragma unroll
      for (int i = 0; i < kColOutputs; ++i) acc[i] = fmaf(As[ty * kColOutputs + i][k], b, acc[i]);
    }
    __syncthreads();
  }
  const int n = block_n + tx;
#pragma unroll
  for (int i = 0; i < kColOutputs; ++i) {
    const int m = block_m + ty * kColOutputs + i;
    if (m < M && n < N) C[static_cast<size_t>(m) * N + n] = acc[i];
  }
}

// ---- Step 3: 2-D register blocking -----------------------------------------------------------
// A block of 256 threads computes a 128 x 128 tile of C; thread (ty, tx) = (tid / 16, tid % 16) an
// 8 x 8 sub-tile, rows 8ty..8ty+7, columns 8tx..8tx+7. Per k it loads 8 A and 8 B values into
// registers and does their 64 outer-product FMAs: 16 shared loads per 64 FMAs. Still scalar: 4
// scalar global loads per operand per thread per slice of 8, A kept row-major in shared memory
// (As[m][k]: 2-way bank conflicts on the A reads, 4-way on the B reads, since the 8 columns of a
// thread are contiguous), one shared buffer (the loads' latency is exposed at every slice).
// Step 4 (sgemm.cu) fixes these: float4 global loads, A transposed, a split-halves thread map.
constexpr int kRegTileM = 128, kRegTileN = 128, kRegTileK = 8, kRegOutputs = 8;
constexpr int kRegThreadCols = kRegTileN / kRegOutputs;                   // 16
constexpr int kRegThreads = (kRegTileM / kRegOutputs) * kRegThreadCols;  // 256
constexpr int kRegLoads = kRegTileM * kRegTileK / kRegThreads;           // 4 of A and 4 of B
static_assert(kRegTileK * kRegTileN == kRegLoads * kRegThreads, "the B slice must split evenly");

__global__ void __launch_bounds__(kRegThreads)
    register_tile_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                         float* __restrict__ C) {
  __shared__ float As[kRegTileM][kRegTileK];
  __shared__ float Bs[kRegTileK][kRegTileN];
  const int tid = threadIdx.x;
  const int block_m = blockIdx.y * kRegTileM, block_n = blockIdx.x * kRegTileN;
  const int ty = tid / kRegThreadCols, tx = tid % kRegThreadCols;
  float acc[kRegOutputs][kRegOutputs] = {};
  for (int k0 = 0; k0 < K; k0 += kRegTileK) {
#pragma unroll
    for (int l = 0; l < kRegLoads; ++l) {
      const int e = tid + l * kRegThreads;  // element e of each slice, walking along its rows
      As[e / kRegTileK][e % kRegTileK] = load_or_zero(A, block_m + e / kRegTileK, k0 + e % kRegTileK, M, K);
      Bs[e / kRegTileN][e % kRegTileN] = load_or_zero(B, k0 + e / kRegTileN, block_n + e % kRegTileN, K, N);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kRegTileK; ++k) {
      float a[kRegOutputs], b[kRegOutputs];
#pragma unroll
      for (int i = 0; i < kRegOutputs; ++i) a[i] = As[ty * kRegOutputs + i][k];
#pragma unroll
      for (int j = 0; j < kRegOutputs; ++j) b[j] = Bs[k][tx * kRegOutputs + j];
#pragma unroll
      for (int i = 0; i < kRegOutputs; ++i)
#pragma unroll
        for (int j = 0; j < kRegOutputs; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kRegOutputs; ++i) {
    const int m = block_m + ty * kRegOutputs + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < kRegOutputs; ++j) {
      const int n = block_n + tx * kRegOutputs + j;
      if (n < N) C[static_cast<size_t>(m) * N + n] = acc[i][j];
    }
  }
}

}  // namespace

void naive(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  if (!check_sizes("sgemm step 0 (naive)", M, N, K, kNaiveRows)) return;
  cudaStream_t stream = ember::cuda::detail::current_raw_stream();
  naive_kernel<<<grid_for(M, N, kNaiveRows, kNaiveCols), dim3(kNaiveCols, kNaiveRows), 0, stream>>>(
      static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), A, B, C);
  EMBER_CUDA_CHECK_LAUNCH();
}

void shared_tiles(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  if (!check_sizes("sgemm step 1 (shared tiles)", M, N, K, kSharedTile)) return;
  cudaStream_t stream = ember::cuda::detail::current_raw_stream();
  shared_tiles_kernel<<<grid_for(M, N, kSharedTile, kSharedTile), dim3(kSharedTile, kSharedTile), 0, stream>>>(
      static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), A, B, C);
  EMBER_CUDA_CHECK_LAUNCH();
}

void register_column(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  if (!check_sizes("sgemm step 2 (register column)", M, N, K, kColTileM)) return;
  cudaStream_t stream = ember::cuda::detail::current_raw_stream();
  register_column_kernel<<<grid_for(M, N, kColTileM, kColTileN), kColThreads, 0, stream>>>(
      static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), A, B, C);
  EMBER_CUDA_CHECK_LAUNCH();
}

void register_tile(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  if (!check_sizes("sgemm step 3 (register tile)", M, N, K, kRegTileM)) return;
  cudaStream_t stream = ember::cuda::detail::current_raw_stream();
  register_tile_kernel<<<grid_for(M, N, kRegTileM, kRegTileN), kRegThreads, 0, stream>>>(
      static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), A, B, C);
  EMBER_CUDA_CHECK_LAUNCH();
}

void run(int step, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  switch (step) {
    case 0: return naive(M, N, K, A, B, C);
    case 1: return shared_tiles(M, N, K, A, B, C);
    case 2: return register_column(M, N, K, A, B, C);
    case 3: return register_tile(M, N, K, A, B, C);
    case 4: return single_buffer(M, N, K, A, B, C);
    case 5: return sgemm_tiled(M, N, K, A, B, C);
    case 6: return warp_tiled(M, N, K, A, B, C);
    default: EMBER_CHECK(false, "sgemm_steps::run: no step ", step, " (the ladder has steps 0..", kSgemmSteps - 1, ")");
  }
}

}  // namespace ember::kernels::cuda::sgemm_steps
