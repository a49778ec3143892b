// The CUDA max-pool forward kernel, shared by max_pool2d (pool.cu) and the fused pool + relu
// (fused.cu). Private to kernels/cuda.
#pragma once
#include <algorithm>
#include <cstdint>

#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/fast_divmod.h>
#include <ember/kernels/pool.h>

namespace ember::kernels::cuda::detail {

struct PoolGeometry {
  int64_t outputs, C, H, W, P, Q;
  int kh, kw, sh, sw, ph, pw;
};

inline PoolGeometry pool_geometry(const Tensor& x, const Tensor& out, const PoolParams& pp) {
  return {out.numel(), x.size(1), x.size(2), x.size(3), out.size(2), out.size(3),
          static_cast<int>(pp.kernel[0]), static_cast<int>(pp.kernel[1]), static_cast<int>(pp.stride[0]),
          static_cast<int>(pp.stride[1]), static_cast<int>(pp.padding[0]), static_cast<int>(pp.padding[1])};
}

// The divisors of the pool kernels' index arithmetic (Div: fast_divmod.h), fixed at launch: by Q,
// P, C, W, the plane H*W and the strides. Sizes of 0 (no elements, no division) become 1.
template <typename Div>
struct PoolDivisors {
  Div q, p, channels, width, plane, stride_h, stride_w;
};
template <typename Div>
PoolDivisors<Div> pool_divisors(const PoolGeometry& g) {
  auto d = [](int64_t v) { return Div(v > 0 ? v : 1); };
  return {d(g.Q), d(g.P), d(g.C), d(g.W), d(g.H * g.W), d(g.sh), d(g.sw)};
}

// Runs launch(PoolDivisors<FastDivmod>) when every input and output index is below 2^31, else
// launch(PoolDivisors<PlainDivmod>).
template <typename Launch>
void with_pool_divisors(const PoolGeometry& g, int64_t inputs, Launch launch) {
  with_divmod(std::max(inputs, g.outputs), [&](auto tag) { launch(pool_divisors<decltype(tag)>(g)); });
}

// One thread per output o = ((plane * P) + p) * Q + q (grid-stride):
//   out[o] = max_{i<kh, j<kw, inside} x[plane, p*sh - ph + i, q*sw - pw + j],
//   index[o] = h*W + w of that max (first on ties; NaN propagates, the last NaN's index,
//   matching the CPU kernel).
// kRelu: the max plus bias[c] of the plane's channel (none: 0), and out[o] = 0, index[o] = -1
// when that is <= 0 (relu cut the gradient).
template <typename T, bool kRelu, typename Div>
__global__ void max_pool2d_forward_kernel(PoolGeometry g, PoolDivisors<Div> div, const T* __restrict__ x,
                                          const T* __restrict__ bias, T* __restrict__ out, int64_t* __restrict__ indices) {
  using I = typename Div::Index;
  const I outputs = static_cast<I>(g.outputs);
  for (I o = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += static_cast<I>(gridDim.x) * blockDim.x) {
    const I plane_row = div.q.div(o), plane = div.p.div(plane_row);  // plane_row = plane * P + p
    const int64_t q = int64_t(o) - int64_t(plane_row) * g.Q, p = int64_t(plane_row) - int64_t(plane) * g.P;
    const T* in = x + int64_t(plane) * g.H * g.W;
    const int64_t h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
    const int64_t h_begin = h0 < 0 ? 0 : h0, w_begin = w0 < 0 ? 0 : w0;
    const int64_t h_end = h0 + g.kh < g.H ? h0 + g.kh : g.H, w_end = w0 + g.kw < g.W ? w0 + g.kw : g.W;
    T best = in[h_begin * g.W + w_begin];
    int64_t best_at = h_begin * g.W + w_begin;
    for (int64_t h = h_begin; h < h_end; ++h) {
      for (int64_t w = w_begin; w < w_end; ++w) {
        const T v = in[h * g.W + w];
        if (v > best || v != v) {
          best = v;
          best_at = h * g.W + w;
        }
      }
    }
    if (kRelu && bias) best += bias[div.channels.mod(plane)];
    if (kRelu && best <= T(0)) {  // a NaN stays, as relu lets it through in PyTorch
      out[o] = T(0);
      indices[o] = -1;
    } else {
      out[o] = best;
      indices[o] = best_at;
    }
  }
}

template <typename T, bool kRelu>
void launch_max_pool2d_forward(const Tensor& x, const Tensor& bias, const Tensor& out, const Tensor& indices,
                               const PoolParams& pp) {
  PoolGeometry g = pool_geometry(x, out, pp);
  if (g.outputs == 0) return;
  with_pool_divisors(g, x.numel(), [&](auto div) {
    max_pool2d_forward_kernel<T, kRelu><<<grid_size(g.outputs), kBlockSize, 0, stream_of(out)>>>(
        g, div, static_cast<const T*>(x.data_ptr()), bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr,
        static_cast<T*>(out.data_ptr()), static_cast<int64_t*>(indices.data_ptr()));
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda::detail
