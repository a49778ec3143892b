// What Ember's two hand-written SGEMM families share (sgemm.cu: block-tiled, steps 4-5;
// sgemm_warptile.cu: warp-tiled, step 6): the edge-aware float4 load and store, the staging of
// the K slices through registers into shared memory and the walk over K that drives it, and the
// launch preamble that checks sizes and picks the fast or the checked kernel. What is left in each
// kernel is its own: how a load maps onto A's slice, and how its threads multiply a slice.
// Private to kernels/cuda.
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

// Stores v[0..3] at (row, col..col+3) of a row-major rows x cols matrix, the counterpart of load4.
// kChecked: those outside the matrix are skipped, and no alignment is assumed; otherwise they must
// be inside and 16-byte aligned.
template <bool kChecked>
__device__ __forceinline__ void store4(float* __restrict__ p, int row, int col, int rows, int cols, const float* v) {
  if constexpr (!kChecked) {
    *reinterpret_cast<float4*>(p + static_cast<size_t>(row) * cols + col) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
    if (row < rows) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        if (col + i < cols) p[static_cast<size_t>(row) * cols + col + i] = v[i];
    }
  }
}

// A thread's accumulators, zeroed.
template <int kRows, int kCols>
__device__ __forceinline__ void zero(float (&acc)[kRows][kCols]) {
#pragma unroll
  for (int i = 0; i < kRows; ++i)
#pragma unroll
    for (int j = 0; j < kCols; ++j) acc[i][j] = 0.0f;
}

// The walk over K that both kernels share: BK-deep slices of A (M x K) and B (K x N) travel from
// global memory into registers (load) and from there into a block's shared memory (store); the
// kernel's multiply(buf) then accumulates the slice in shared buffer buf.
//
// Thread tid's load i moves float4 number f = tid + i * kThreads of each slice:
//   of A (BM x BK), the four k AMap::k(f)..+3 of row AMap::row(f), stored transposed into
//   As[buf][k..k+3][row] so that a thread's fragment along m is contiguous. The map is the
//   kernel's own: it decides how a warp's loads coalesce and how its transposing stores fall on
//   the banks. Rows of As are padded to kAStride = BM + 4 floats: still 16-byte aligned for float4
//   fragment reads, and k and k + 4 land 16 banks apart instead of on the same bank;
//   of B (BK x BN), row f / (BN/4), columns 4 * (f % (BN/4))..+3, stored as is into Bs[buf][row]:
//   consecutive threads walk along a row, coalesced and conflict-free.
// Every trip count is a compile-time constant: the loops unroll and the slice in flight (a_, b_)
// lives in registers.
template <int BM, int BN, int BK, int kThreads, class AMap, bool kChecked>
class SliceStager {
 public:
  static constexpr int kAStride = BM + 4;                  // a padded row of the transposed A slice
  static constexpr int kALoads = BM * BK / 4 / kThreads;  // float4 of A per thread per slice
  static constexpr int kBLoads = BK * BN / 4 / kThreads;  // and of B
  static_assert(BK % 4 == 0 && BN % 4 == 0, "A is loaded as float4 along k, B along n");
  static_assert(kALoads >= 1 && kALoads * kThreads * 4 == BM * BK, "the A slice must split evenly");
  static_assert(kBLoads >= 1 && kBLoads * kThreads * 4 == BK * BN, "the B slice must split evenly");

  // The block's tile of C starts at (block_m, block_n); tid is the thread's index in the block.
  __device__ __forceinline__ SliceStager(const float* __restrict__ A, const float* __restrict__ B, int M, int N,
                                         int K, int block_m, int block_n, int tid)
      : A_(A), B_(B), M_(M), N_(N), K_(K), block_m_(block_m), block_n_(block_n), tid_(tid) {}

  // Runs multiply(buf) on every slice of K, staged in kBuffers shared buffers. With two, while
  // the block multiplies slice t from buffer t%2, each thread already has slice t+1 in flight from
  // global memory into registers, and writes it into the other buffer after its FMAs. One
  // __syncthreads per slice suffices: the buffer written in step t was last read in step t-1,
  // which ended with a barrier. With one, each slice is loaded, stored, synchronised, multiplied
  // and synchronised again, so the load latency is exposed.
  template <int kBuffers, class Multiply>
  __device__ __forceinline__ void walk_k(float (&As)[kBuffers][BK][kAStride], float (&Bs)[kBuffers][BK][BN],
                                         Multiply&& multiply) {
    static_assert(kBuffers == 1 || kBuffers == 2, "single or double buffering");
    const int slices = (K_ + BK - 1) / BK;
    if constexpr (kBuffers == 2) {
      load(0);
      store(As, Bs, 0);
      __syncthreads();
      for (int t = 0; t < slices; ++t) {
        const int cur = t & 1;
        if (t + 1 < slices) load((t + 1) * BK);  // in flight during the FMAs below
        multiply(cur);
        if (t + 1 < slices) store(As, Bs, cur ^ 1);
        __syncthreads();
      }
    } else {
      for (int t = 0; t < slices; ++t) {
        load(t * BK);
        store(As, Bs, 0);
        __syncthreads();
        multiply(0);
        __syncthreads();  // before the next slice overwrites the buffer
      }
    }
  }

 private:
  __device__ __forceinline__ void load(int k0) {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      const int f = tid_ + i * kThreads;
      a_[i] = load4<kChecked>(A_, block_m_ + AMap::row(f), k0 + AMap::k(f), M_, K_);
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const int f = tid_ + i * kThreads;
      b_[i] = load4<kChecked>(B_, k0 + f / (BN / 4), block_n_ + 4 * (f % (BN / 4)), K_, N_);
    }
  }

  template <int kBuffers>
  __device__ __forceinline__ void store(float (&As)[kBuffers][BK][kAStride], float (&Bs)[kBuffers][BK][BN],
                                        int buf) const {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      const int f = tid_ + i * kThreads;
      const int row = AMap::row(f), k = AMap::k(f);
      As[buf][k + 0][row] = a_[i].x;
      As[buf][k + 1][row] = a_[i].y;
      As[buf][k + 2][row] = a_[i].z;
      As[buf][k + 3][row] = a_[i].w;
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const int f = tid_ + i * kThreads;
      *reinterpret_cast<float4*>(&Bs[buf][f / (BN / 4)][4 * (f % (BN / 4))]) = b_[i];
    }
  }

  const float* __restrict__ A_;
  const float* __restrict__ B_;
  int M_, N_, K_, block_m_, block_n_, tid_;
  float4 a_[kALoads], b_[kBLoads];  // the slice in flight
};

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// One launch of a kernel with a BM x BN block tile over C (M x N), K deep.
struct Launch {
  bool run = false;   // false: nothing to launch (an empty C, or K = 0 and C was zeroed)
  bool fast = false;  // sizes multiples of the tile and 16-byte aligned pointers: the unchecked kernel
  dim3 grid;
  cudaStream_t stream = nullptr;
  int m = 0, n = 0, k = 0;
};

// The largest M, N or K: the kernels index in int, and a tile's edge (at most 256) past the
// last full tile must not overflow (k0 + BK, the slice count (K + BK - 1) / BK).
constexpr int64_t kMaxExtent = INT32_MAX - 256;

// Checks the sizes (`who` names the caller in errors), zeroes C when K = 0, and says how to launch.
inline Launch plan_launch(const char* who, int64_t M, int64_t N, int64_t K, int BM, int BN, int BK, const float* A,
                          const float* B, float* C) {
  EMBER_CHECK(M >= 0 && N >= 0 && K >= 0 && M <= kMaxExtent && N <= kMaxExtent && K <= kMaxExtent, who,
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
