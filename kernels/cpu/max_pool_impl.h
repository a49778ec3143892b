// The CPU max-pool forward loop, shared by max_pool2d (pool.cpp) and the fused pool + relu
// (fused.cpp). Private to kernels/cpu.
#pragma once
#include <cstdint>
#include <limits>

#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/pool.h>

namespace ember::kernels::cpu::detail {

// For each (n, c) plane and output (p, q): the max over the window and its flat index h*W + w
// (first on ties). kRelu: outputs whose max is <= 0 become 0 with index -1 (no gradient).
template <typename T, bool kRelu>
void max_pool2d_planes(const Tensor& x, const Tensor& out, const Tensor& indices, const PoolParams& pp) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t P = out.size(2), Q = out.size(3);
  const int64_t kh = pp.kernel[0], kw = pp.kernel[1], sh = pp.stride[0], sw = pp.stride[1];
  const int64_t ph = pp.padding[0], pw = pp.padding[1];
  const T* px = static_cast<const T*>(x.data_ptr());
  T* po = static_cast<T*>(out.data_ptr());
  int64_t* pi = static_cast<int64_t*>(indices.data_ptr());
  parallel_for(planes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* in = px + plane * H * W;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t h0 = p * sh - ph;
        for (int64_t q = 0; q < Q; ++q) {
          const int64_t w0 = q * sw - pw;
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_at = -1;
          for (int64_t h = h0 < 0 ? 0 : h0; h < h0 + kh && h < H; ++h) {
            for (int64_t w = w0 < 0 ? 0 : w0; w < w0 + kw && w < W; ++w) {
              T v = in[h * W + w];
              // NaN propagates: once the max is NaN it stays.
              if (best_at < 0 || v > best || (v != v && best == best)) {
                best = v;
                best_at = h * W + w;
              }
            }
          }
          const int64_t o = plane * P * Q + p * Q + q;
          if (kRelu && !(best > T(0))) {
            po[o] = T(0);
            pi[o] = -1;
          } else {
            po[o] = best;
            pi[o] = best_at;
          }
        }
      }
    }
  });
}

}  // namespace ember::kernels::cpu::detail
