// CPU reference of kernels/dropout.h: one Philox call per four elements.
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/dropout.h>
#include <ember/kernels/philox.h>

namespace ember::kernels::cpu {

void dropout_forward(const Tensor& in, const Tensor& out, const Tensor& mask, double p, double scale, uint64_t seed,
                     uint64_t offset) {
  dispatch_floating(in.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(in.data_ptr());
    T* y = static_cast<T*>(out.data_ptr());
    uint8_t* keep = static_cast<uint8_t*>(mask.data_ptr());
    int64_t n = in.numel();
    float threshold = static_cast<float>(p);
    T s = static_cast<T>(scale);
    parallel_for((n + 3) / 4, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        Philox4 r = philox(seed, offset + c);
        for (int k = 0; k < 4 && c * 4 + k < n; ++k) {
          int64_t i = c * 4 + k;
          bool kept = uniform_float(r.v[k]) >= threshold;
          keep[i] = kept;
          y[i] = kept ? x[i] * s : T(0);
        }
      }
    });
  });
}

void dropout_backward(const Tensor& grad, const Tensor& mask, const Tensor& grad_in, double scale) {
  dispatch_floating(grad.dtype(), "dropout_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* g = static_cast<const T*>(grad.data_ptr());
    const uint8_t* keep = static_cast<const uint8_t*>(mask.data_ptr());
    T* gx = static_cast<T*>(grad_in.data_ptr());
    T s = static_cast<T>(scale);
    parallel_for(grad.numel(), 32768, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) gx[i] = keep[i] ? g[i] * s : T(0);
    });
  });
}

}  // namespace ember::kernels::cpu
