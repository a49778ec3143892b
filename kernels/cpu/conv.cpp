// CPU convolution: im2col + GEMM, one image at a time, images split across Ember's thread pool.
//
// For one image, col = im2col(x[n]) is the (C*R*S, P*Q) matrix whose column (p, q) holds the input
// patch under output pixel (p, q) (zeros where the patch hangs over the padding). Then
//   forward:          out[n]  (K, PQ)   = W (K, CRS) @ col (CRS, PQ)  (+ bias[k])
//   backward-data:    dcol    (CRS, PQ) = W^T @ g[n],  dx[n] = col2im(dcol)  (scatter-add)
//   backward-filter:  dW      (K, CRS) += g[n] (K, PQ) @ col^T
// Each thread owns its col buffer (and, for the filter gradient, a partial dW summed afterwards in
// chunk order, so results do not depend on thread timing). OpenBLAS runs single-threaded (the
// thread pool sets it once): the parallelism is over images, and BLAS threads would oversubscribe.
// docs/perf-notes.md ("CPU convolution") has the measurements behind this choice.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include <ember/kernels/conv.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/cpu/vec_sum.h>

namespace ember::kernels::cpu {

namespace {

struct ConvGeometry {
  int64_t N, C, H, W, K, R, S, P, Q;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int64_t crs() const { return C * R * S; }
  int64_t pq() const { return P * Q; }
  int64_t chw() const { return C * H * W; }
};

ConvGeometry geometry(const Tensor& x, const Tensor& weight, const Tensor& out, const Conv2dParams& p) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3),
          out.size(2), out.size(3), p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0],
          p.dilation[1]};
}

// Output columns q whose input column q*stride - pad + s*dil lies inside [0, W): [lo, hi).
void valid_range(int64_t Q, int64_t W, int64_t stride, int64_t pad, int64_t offset, int64_t& lo, int64_t& hi) {
  // q*stride + (offset - pad) >= 0  and  < W
  int64_t shift = offset - pad;
  lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  hi = W - shift <= 0 ? 0 : (W - shift + stride - 1) / stride;
  lo = std::min(lo, Q);
  hi = std::max(lo, std::min(hi, Q));
}

// Copies n elements. The rows im2col moves are short (Q = 24 and 8 in the Net), and GCC would turn
// a plain loop into a memmove call whose fixed cost exceeded the copy itself.
#if defined(__GNUC__) && !defined(__clang__)
#define EMBER_NO_MEMCPY_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define EMBER_NO_MEMCPY_IDIOM
#endif
template <typename T>
EMBER_NO_MEMCPY_IDIOM inline void copy_short(const T* src, int64_t n, T* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}
template <typename T>
EMBER_NO_MEMCPY_IDIOM inline void zero_short(T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = T(0);
}

template <typename T>
EMBER_NO_MEMCPY_IDIOM void im2col(const T* x, const ConvGeometry& g, T* col) {
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t r = 0; r < g.R; ++r) {
      for (int64_t s = 0; s < g.S; ++s) {
        T* row = col + ((c * g.R + r) * g.S + s) * g.pq();
        int64_t q_lo, q_hi;
        valid_range(g.Q, g.W, g.stride_w, g.pad_w, s * g.dil_w, q_lo, q_hi);
        for (int64_t p = 0; p < g.P; ++p) {
          T* out = row + p * g.Q;
          int64_t h = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (h < 0 || h >= g.H) {
            zero_short(out, g.Q);
            continue;
          }
          const T* in = x + (c * g.H + h) * g.W + s * g.dil_w - g.pad_w;
          zero_short(out, q_lo);
          if (g.stride_w == 1) {
            copy_short(in + q_lo, q_hi - q_lo, out + q_lo);
          } else {
            for (int64_t q = q_lo; q < q_hi; ++q) out[q] = in[q * g.stride_w];
          }
          zero_short(out + q_hi, g.Q - q_hi);
        }
      }
    }
  }
}

// The adjoint of im2col: dx[c, h, w] += col[(c, r, s), (p, q)] for every patch covering (h, w).
// dx must be zeroed by the caller.
template <typename T>
void col2im(const T* col, const ConvGeometry& g, T* dx) {
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t r = 0; r < g.R; ++r) {
      for (int64_t s = 0; s < g.S; ++s) {
        const T* row = col + ((c * g.R + r) * g.S + s) * g.pq();
        int64_t q_lo, q_hi;
        valid_range(g.Q, g.W, g.stride_w, g.pad_w, s * g.dil_w, q_lo, q_hi);
        for (int64_t p = 0; p < g.P; ++p) {
          int64_t h = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (h < 0 || h >= g.H) continue;
          const T* in = row + p * g.Q;
          T* out = dx + (c * g.H + h) * g.W + s * g.dil_w - g.pad_w;
          if (g.stride_w == 1) {  // unit stride: a loop the compiler vectorises
            for (int64_t q = q_lo; q < q_hi; ++q) out[q] += in[q];
          } else {
            for (int64_t q = q_lo; q < q_hi; ++q) out[q * g.stride_w] += in[q];
          }
        }
      }
    }
  }
}

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.0f, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const double* A,
               int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), 1.0, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

// One image per grain: even the Net's smallest conv has enough work per image to pay a hand-off.
constexpr int64_t kImagesPerGrain = 1;

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out,
                    const Conv2dParams& params) {
  const ConvGeometry g = geometry(x, weight, out, params);
  dispatch_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(weight.data_ptr());
    const T* pb = bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr;
    T* po = static_cast<T*>(out.data_ptr());
    parallel_for(g.N, kImagesPerGrain, [&](int64_t begin, int64_t end) {
      std::vector<T> col(static_cast<size_t>(g.crs() * g.pq()));
      for (int64_t n = begin; n < end; ++n) {
        T* y = po + n * g.K * g.pq();
        T beta = T(0);
        if (pb) {  // start from the bias and let the GEMM accumulate onto it
          for (int64_t k = 0; k < g.K; ++k) std::fill(y + k * g.pq(), y + (k + 1) * g.pq(), pb[k]);
          beta = T(1);
        }
        im2col(px + n * g.chw(), g, col.data());
        blas_gemm(CblasNoTrans, CblasNoTrans, g.K, g.pq(), g.crs(), pw, g.crs(), col.data(), g.pq(), beta, y, g.pq());
      }
    });
  });
}

void conv2d_backward_data(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x,
                          const Conv2dParams& params) {
  const ConvGeometry g = geometry(grad_x, weight, grad_out, params);
  dispatch_floating(grad_x.dtype(), "conv2d_backward_data", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const T* pw = static_cast<const T*>(weight.data_ptr());
    T* pdx = static_cast<T*>(grad_x.data_ptr());
    parallel_for(g.N, kImagesPerGrain, [&](int64_t begin, int64_t end) {
      std::vector<T> col(static_cast<size_t>(g.crs() * g.pq()));
      for (int64_t n = begin; n < end; ++n) {
        blas_gemm(CblasTrans, CblasNoTrans, g.crs(), g.pq(), g.K, pw, g.crs(), pg + n * g.K * g.pq(), g.pq(), T(0),
                  col.data(), g.pq());
        T* dx = pdx + n * g.chw();
        std::fill(dx, dx + g.chw(), T(0));
        col2im(col.data(), g, dx);
      }
    });
  });
}

void conv2d_backward_filter(const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight,
                            const Conv2dParams& params) {
  const ConvGeometry g = geometry(x, grad_weight, grad_out, params);
  dispatch_floating(x.dtype(), "conv2d_backward_filter", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const T* px = static_cast<const T*>(x.data_ptr());
    T* pdw = static_cast<T*>(grad_weight.data_ptr());
    const int64_t dw_size = g.K * g.crs();
    std::mutex partials_mutex;
    std::map<int64_t, std::vector<T>> partials;  // by first image of the chunk
    parallel_for(g.N, kImagesPerGrain, [&](int64_t begin, int64_t end) {
      std::vector<T> col(static_cast<size_t>(g.crs() * g.pq()));
      std::vector<T> dw(static_cast<size_t>(dw_size), T(0));
      for (int64_t n = begin; n < end; ++n) {
        im2col(px + n * g.chw(), g, col.data());
        blas_gemm(CblasNoTrans, CblasTrans, g.K, g.crs(), g.pq(), pg + n * g.K * g.pq(), g.pq(), col.data(), g.pq(),
                  T(1), dw.data(), g.crs());
      }
      std::lock_guard<std::mutex> lock(partials_mutex);
      partials.emplace(begin, std::move(dw));
    });
    std::fill(pdw, pdw + dw_size, T(0));
    for (const auto& entry : partials)
      for (int64_t i = 0; i < dw_size; ++i) pdw[i] += entry.second[static_cast<size_t>(i)];
  });
}

void conv2d_backward_bias(const Tensor& grad_out, const Tensor& grad_bias) {
  const int64_t N = grad_out.size(0), K = grad_out.size(1), PQ = grad_out.size(2) * grad_out.size(3);
  dispatch_floating(grad_out.dtype(), "conv2d_backward_bias", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    T* pdb = static_cast<T*>(grad_bias.data_ptr());
    for (int64_t k = 0; k < K; ++k) {
      double total = 0;
      for (int64_t n = 0; n < N; ++n) total += sum_contiguous(pg + (n * K + k) * PQ, PQ);
      pdb[k] = static_cast<T>(total);
    }
  });
}

}  // namespace ember::kernels::cpu
