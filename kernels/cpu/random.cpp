#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/philox.h>
#include <ember/kernels/random.h>

namespace ember::kernels::cpu {

void uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  dispatch_floating(out.dtype(), "uniform", [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(out.data_ptr());
    int64_t n = out.numel();
    parallel_for((n + 3) / 4, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        Philox4 r = philox(seed, offset + c);
        for (int k = 0; k < 4 && c * 4 + k < n; ++k) {
          double u = sizeof(T) == 4 ? uniform_float(r.v[k]) : uniform_double(r.v[k]);
          p[c * 4 + k] = static_cast<T>(low + (high - low) * u);
        }
      }
    });
  });
}

void normal(const Tensor& out, double mean, double stddev, uint64_t seed, uint64_t offset) {
  dispatch_floating(out.dtype(), "normal", [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(out.data_ptr());
    int64_t n = out.numel();
    parallel_for((n + 1) / 2, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        Philox4 r = philox(seed, offset + c);
        p[c * 2] = static_cast<T>(mean + stddev * box_muller(r.v[0], r.v[1]));
        if (c * 2 + 1 < n) p[c * 2 + 1] = static_cast<T>(mean + stddev * box_muller(r.v[2], r.v[3]));
      }
    });
  });
}

}  // namespace ember::kernels::cpu
