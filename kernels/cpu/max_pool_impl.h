// The CPU max-pool forward loop, shared by max_pool2d (pool.cpp) and the fused pool + relu
// (fused.cpp). Private to kernels/cpu.
#pragma once
#include <algorithm>
#include <cstdint>

#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/pool.h>

namespace ember::kernels::cpu::detail {

// Whether v replaces the running maximum: larger, or NaN (as in PyTorch, NaN propagates and the
// index is the last NaN's). Written with bitwise operators so the compiler turns it into compare
// masks and blends: on real data "v > best" is a coin flip, and a mispredicted branch per element
// costs more than the window. (A "first NaN stays" rule needs a test of best too, which stops GCC
// from vectorising the loop: 13x slower.)
template <typename T>
inline bool takes_max(T v, T best) {
  return (v > best) | (v != v);
}

template <typename T>
inline void take_if_max(T v, int64_t at, T& best, int64_t& best_at) {
  const bool take = takes_max(v, best);
  best = take ? v : best;
  best_at = take ? at : best_at;
}

// Writes the pooled value and index; kRelu: the max plus the plane's bias (max(x) + b = max(x + b)
// for a bias constant over the window) becomes 0 with index -1 (no gradient) when it is <= 0
// (a NaN stays, as relu lets it through in PyTorch).
template <typename T, bool kRelu>
inline void store_max(T best, int64_t best_at, T bias, T* out, int64_t* index) {
  if constexpr (kRelu) best += bias;
  const bool cut = kRelu && best <= T(0);
  *out = cut ? T(0) : best;
  *index = cut ? -1 : best_at;
}

// One (n, c) plane: for each output (p, q), the max over its window and the flat index h*W + w
// (first on ties). Sizes arrive by value: captured by reference they could alias the int64 index
// stores, and the compiler would reload them per element instead of vectorising the loop.
template <typename T, bool kRelu>
void max_pool2d_plane(const T* in, T* out, int64_t* index, int64_t H, int64_t W, int64_t P, int64_t Q,
                      PoolParams pp, T bias) {
  const int64_t kh = pp.kernel[0], kw = pp.kernel[1], sh = pp.stride[0], sw = pp.stride[1];
  const int64_t ph = pp.padding[0], pw = pp.padding[1];
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0) {
    // The Net's case: a straight-line body over the 2x2 window.
    for (int64_t p = 0; p < P; ++p) {
      const int64_t top = 2 * p * W;
      const T* r0 = in + top;
      const T* r1 = r0 + W;
      for (int64_t q = 0; q < Q; ++q) {
        T best = r0[2 * q];
        int64_t best_at = top + 2 * q;
        take_if_max(r0[2 * q + 1], top + 2 * q + 1, best, best_at);
        take_if_max(r1[2 * q], top + W + 2 * q, best, best_at);
        take_if_max(r1[2 * q + 1], top + W + 2 * q + 1, best, best_at);
        store_max<T, kRelu>(best, best_at, bias, out + p * Q + q, index + p * Q + q);
      }
    }
    return;
  }
  for (int64_t p = 0; p < P; ++p) {
    const int64_t h0 = p * sh - ph, h_begin = std::max<int64_t>(h0, 0), h_end = std::min(h0 + kh, H);
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t w0 = q * sw - pw, w_begin = std::max<int64_t>(w0, 0), w_end = std::min(w0 + kw, W);
      T best = in[h_begin * W + w_begin];
      int64_t best_at = h_begin * W + w_begin;
      for (int64_t h = h_begin; h < h_end; ++h) {
        for (int64_t w = w_begin; w < w_end; ++w) {
          take_if_max(in[h * W + w], h * W + w, best, best_at);
        }
      }
      store_max<T, kRelu>(best, best_at, bias, out + p * Q + q, index + p * Q + q);
    }
  }
}

// Every (n, c) plane of x, split over the thread pool; bias (C), kRelu only, may be undefined.
template <typename T, bool kRelu>
void max_pool2d_planes(const Tensor& x, const Tensor& bias, const Tensor& out, const Tensor& indices,
                       const PoolParams& pp) {
  const int64_t planes = x.size(0) * x.size(1), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t P = out.size(2), Q = out.size(3);
  const T* px = static_cast<const T*>(x.data_ptr());
  T* po = static_cast<T*>(out.data_ptr());
  int64_t* pi = static_cast<int64_t*>(indices.data_ptr());
  const T* pb = bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr;
  parallel_for(planes, 16, [=](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane)
      max_pool2d_plane<T, kRelu>(px + plane * H * W, po + plane * P * Q, pi + plane * P * Q, H, W, P, Q, pp,
                                 pb ? pb[plane % C] : T(0));
  });
}

}  // namespace ember::kernels::cpu::detail
