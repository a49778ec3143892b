// CUDA kernels of kernels/elementwise.h. The math is in elementwise_math.h (shared with the CPU
// reference). Contiguous operands take a vectorised grid-stride loop (16 bytes of input per thread
// per iteration, as one vector load when every pointer is aligned); strided/broadcast operands go
// through StridedIndexer.
#include <cstdint>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/elementwise.h>
#include <ember/kernels/elementwise_math.h>
#include <ember/kernels/strided_indexer.h>

namespace ember::kernels::cuda {

namespace {

// y[i] = f(x0[i], x1[i]...) for contiguous operands; VEC elements per thread per step. kAligned:
// every pointer is aligned to its Pack, so each VEC-run moves as one vector load/store (what keeps
// a bandwidth-bound kernel near the copy ceiling); otherwise VEC scalar accesses.
template <int VEC, bool kAligned, typename TOut, typename TIn, int Inputs, typename F>
__global__ void map_contiguous(int64_t n, TOut* __restrict__ out, const TIn* __restrict__ in0,
                               const TIn* __restrict__ in1, F f) {
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x * VEC;
  for (int64_t base = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * VEC; base < n; base += stride) {
    if (VEC > 1 && base + VEC <= n) {
      Pack<TIn, VEC> a, b;
      Pack<TOut, VEC> r;
      if constexpr (kAligned) {
        a = *reinterpret_cast<const Pack<TIn, VEC>*>(in0 + base);
        if constexpr (Inputs == 2) b = *reinterpret_cast<const Pack<TIn, VEC>*>(in1 + base);
      } else {
#pragma unroll
        for (int v = 0; v < VEC; ++v) a.v[v] = in0[base + v];
        if constexpr (Inputs == 2) {
#pragma unroll
          for (int v = 0; v < VEC; ++v) b.v[v] = in1[base + v];
        }
      }
#pragma unroll
      for (int v = 0; v < VEC; ++v) {
        if constexpr (Inputs == 1) r.v[v] = f(a.v[v]);
        else r.v[v] = f(a.v[v], b.v[v]);
      }
      if constexpr (kAligned) {
        *reinterpret_cast<Pack<TOut, VEC>*>(out + base) = r;
      } else {
#pragma unroll
        for (int v = 0; v < VEC; ++v) out[base + v] = r.v[v];
      }
    } else {
      for (int64_t i = base; i < n && i < base + VEC; ++i) {
        if constexpr (Inputs == 1) out[i] = f(in0[i]);
        else out[i] = f(in0[i], in1[i]);
      }
    }
  }
}

// The same for arbitrary strides (broadcast inputs have stride 0).
template <typename TOut, typename TIn, int Inputs, typename F>
__global__ void map_strided(int64_t n, StridedIndexer ix, TOut* out, const TIn* in0, const TIn* in1, F f) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[kMaxOperands];
    ix.offsets(i, off, Inputs + 1);
    if constexpr (Inputs == 1) out[off[0]] = f(in0[off[1]]);
    else out[off[0]] = f(in0[off[1]], in1[off[2]]);
  }
}

template <typename TOut, typename TIn, int Inputs, typename F>
void launch_map(const Tensor& out, const Tensor& in0, const Tensor& in1, F f) {
  int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t stream = stream_of(out);
  auto* po = static_cast<TOut*>(out.data_ptr());
  auto* p0 = static_cast<const TIn*>(in0.data_ptr());
  auto* p1 = Inputs == 2 ? static_cast<const TIn*>(in1.data_ptr()) : nullptr;
  bool contiguous = out.is_contiguous() && in0.is_contiguous() && (Inputs == 1 || in1.is_contiguous());
  if (contiguous) {
    constexpr int kVec = 16 / sizeof(TIn) > 0 ? 16 / sizeof(TIn) : 1;
    const bool vector_aligned = is_aligned(po, sizeof(TOut) * kVec) && is_aligned(p0, sizeof(TIn) * kVec) &&
                                (Inputs == 1 || is_aligned(p1, sizeof(TIn) * kVec));
    const int grid = grid_size((n + kVec - 1) / kVec);
    if (vector_aligned) map_contiguous<kVec, true, TOut, TIn, Inputs><<<grid, kBlockSize, 0, stream>>>(n, po, p0, p1, f);
    else map_contiguous<kVec, false, TOut, TIn, Inputs><<<grid, kBlockSize, 0, stream>>>(n, po, p0, p1, f);
  } else {
    TensorList operands{out, in0};
    if (Inputs == 2) operands.push_back(in1);
    StridedIndexer ix = make_indexer(out.sizes(), operands);
    map_strided<TOut, TIn, Inputs><<<grid_size(n), kBlockSize, 0, stream>>>(n, ix, po, p0, p1, f);
  }
  EMBER_CUDA_CHECK_LAUNCH();
}

template <typename T>
struct EqualTo {
  __device__ uint8_t operator()(T a, T b) const { return static_cast<uint8_t>(a == b); }
};
template <typename T>
struct Axpy {
  T alpha;
  __device__ T operator()(T y, T x) const { return y + alpha * x; }
};

}  // namespace

void unary(UnaryOp op, const Tensor& in, const Tensor& out, double scalar) {
  dispatch_floating(out.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    math::visit_unary<T>(op, static_cast<T>(scalar), [&](auto f) { launch_map<T, T, 1>(out, in, in, f); });
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double scalar) {
  if (op == BinaryOp::Eq) {
    dispatch_all(a.dtype(), "eq", [&](auto tag) {
      using T = decltype(tag);
      launch_map<uint8_t, T, 2>(out, a, b, EqualTo<T>{});
    });
    return;
  }
  dispatch_floating(out.dtype(), "binary", [&](auto tag) {
    using T = decltype(tag);
    math::visit_binary<T>(op, static_cast<T>(scalar), [&](auto f) { launch_map<T, T, 2>(out, a, b, f); });
  });
}

void axpy(const Tensor& in, const Tensor& out, double alpha) {
  dispatch_floating(out.dtype(), "axpy", [&](auto tag) {
    using T = decltype(tag);
    launch_map<T, T, 2>(out, out, in, Axpy<T>{static_cast<T>(alpha)});
  });
}

}  // namespace ember::kernels::cuda
