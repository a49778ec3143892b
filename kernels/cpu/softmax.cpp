// CPU reference of kernels/softmax.h: one pass per row (or strided column when inner > 1) for
// the max, one for the sum, one to write; sums in double, and x - m - log(s) as (x - m) - log(s)
// in double. The cross-entropy gradient recomputes the row max (one pass) before writing.
#include <cmath>
#include <limits>

#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/softmax.h>

namespace ember::kernels::cpu {

namespace {
int64_t grain_for(int64_t row) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(row, 1)); }

// Calls fn(base, stride) for each of the outer*inner lines of length g.reduce.
template <typename F>
void for_each_line(ReduceGeometry g, F fn) {
  parallel_for(g.outer * g.inner, grain_for(g.reduce), [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      int64_t o = k / g.inner, i = k % g.inner;
      fn(o * g.reduce * g.inner + i, g.inner);
    }
  });
}

template <typename T>
T* ptr(const Tensor& t) { return static_cast<T*>(t.data_ptr()); }
}  // namespace

void softmax_forward(const Tensor& in, const Tensor& out, ReduceGeometry g, bool log) {
  dispatch_floating(in.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* x = ptr<T>(in);
    T* y = ptr<T>(out);
    for_each_line(g, [&](int64_t base, int64_t stride) {
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < g.reduce; ++c) m = std::max(m, x[base + c * stride]);
      double s = 0;
      for (int64_t c = 0; c < g.reduce; ++c) s += std::exp(static_cast<double>(x[base + c * stride] - m));
      if (log) {
        // (x - m) - log(s), not x - (m + log(s)): m + log(s) rounded to T would err by the ulp of m.
        const double log_s = std::log(s);
        for (int64_t c = 0; c < g.reduce; ++c)
          y[base + c * stride] = static_cast<T>((static_cast<double>(x[base + c * stride]) - m) - log_s);
      } else {
        for (int64_t c = 0; c < g.reduce; ++c)
          y[base + c * stride] = static_cast<T>(std::exp(static_cast<double>(x[base + c * stride] - m)) / s);
      }
    });
  });
}

void softmax_backward(const Tensor& grad, const Tensor& out, const Tensor& grad_in, ReduceGeometry g, bool log) {
  dispatch_floating(out.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* gy = ptr<T>(grad);
    const T* y = ptr<T>(out);
    T* gx = ptr<T>(grad_in);
    for_each_line(g, [&](int64_t base, int64_t stride) {
      double s = 0;
      for (int64_t c = 0; c < g.reduce; ++c) {
        int64_t k = base + c * stride;
        s += log ? static_cast<double>(gy[k]) : static_cast<double>(gy[k]) * y[k];
      }
      for (int64_t c = 0; c < g.reduce; ++c) {
        int64_t k = base + c * stride;
        gx[k] = log ? static_cast<T>(gy[k] - std::exp(static_cast<double>(y[k])) * s)
                    : static_cast<T>(y[k] * (gy[k] - s));
      }
    });
  });
}

void cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& losses, const Tensor& lse) {
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* x = ptr<T>(logits);
    const int64_t* t = ptr<int64_t>(target);
    T* loss = ptr<T>(losses);
    T* lse_out = ptr<T>(lse);
    int64_t n = logits.size(0), classes = logits.size(1);
    parallel_for(n, grain_for(classes), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const T* xr = x + row * classes;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t c = 0; c < classes; ++c) m = std::max(m, xr[c]);
        double s = 0;
        for (int64_t c = 0; c < classes; ++c) s += std::exp(static_cast<double>(xr[c] - m));
        const double log_s = std::log(s);
        lse_out[row] = static_cast<T>(log_s);
        loss[row] = static_cast<T>((static_cast<double>(m) - xr[t[row]]) + log_s);
      }
    });
  });
}

// The per-row losses, then their sum in double in row order (the reference for CUDA's one launch).
void cross_entropy_forward_reduced(const Tensor& logits, const Tensor& target, const Tensor& total, const Tensor& lse,
                                   bool mean) {
  const int64_t n = logits.size(0);
  Tensor losses = empty({n}, TensorOptions(logits.dtype()));
  cross_entropy_forward(logits, target, losses, lse);
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const T* loss = ptr<T>(losses);
    double s = 0;
    for (int64_t row = 0; row < n; ++row) s += loss[row];
    *ptr<T>(total) = static_cast<T>(mean ? s / static_cast<double>(n) : s);
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& grad,
                            int64_t grad_stride, double scale, const Tensor& grad_logits) {
  dispatch_floating(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* x = ptr<T>(logits);
    const int64_t* t = ptr<int64_t>(target);
    const T* row_lse = ptr<T>(lse);
    const T* gy = ptr<T>(grad);
    T* gx = ptr<T>(grad_logits);
    int64_t n = logits.size(0), classes = logits.size(1);
    parallel_for(n, grain_for(classes), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const T* xr = x + row * classes;
        T m = -std::numeric_limits<T>::infinity();  // the forward's max, recomputed
        for (int64_t c = 0; c < classes; ++c) m = std::max(m, xr[c]);
        double g = scale * gy[row * grad_stride];
        for (int64_t c = 0; c < classes; ++c) {
          double p = std::exp((static_cast<double>(xr[c]) - m) - row_lse[row]);
          gx[row * classes + c] = static_cast<T>((p - (c == t[row] ? 1.0 : 0.0)) * g);
        }
      }
    });
  });
}

void nll_forward(const Tensor& log_probs, const Tensor& target, const Tensor& losses) {
  dispatch_floating(log_probs.dtype(), "nll_loss", [&](auto tag) {
    using T = decltype(tag);
    const T* lp = ptr<T>(log_probs);
    const int64_t* t = ptr<int64_t>(target);
    T* loss = ptr<T>(losses);
    int64_t n = log_probs.size(0), classes = log_probs.size(1);
    for (int64_t row = 0; row < n; ++row) loss[row] = -lp[row * classes + t[row]];
  });
}

void nll_backward(const Tensor& target, const Tensor& grad, int64_t grad_stride, double scale,
                  const Tensor& grad_log_probs) {
  dispatch_floating(grad_log_probs.dtype(), "nll_loss_backward", [&](auto tag) {
    using T = decltype(tag);
    const int64_t* t = ptr<int64_t>(target);
    const T* gy = ptr<T>(grad);
    T* gx = ptr<T>(grad_log_probs);
    int64_t n = grad_log_probs.size(0), classes = grad_log_probs.size(1);
    for (int64_t row = 0; row < n; ++row)
      for (int64_t c = 0; c < classes; ++c)
        gx[row * classes + c] = c == t[row] ? static_cast<T>(-scale * gy[row * grad_stride]) : T(0);
  });
}

}  // namespace ember::kernels::cpu
