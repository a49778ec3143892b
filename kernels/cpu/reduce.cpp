// CPU reference of kernels/reduce.h. Sums accumulate in double (also for float32 inputs) so the
// reference is at least as accurate as the CUDA tree reductions it is compared with.
#include <algorithm>
#include <limits>
#include <vector>

#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/cpu/vec_sum.h>
#include <ember/kernels/reduce.h>
#include <ember/kernels/reduce_math.h>

namespace ember::kernels::cpu {

namespace {
// Enough work per chunk that a hand-off to the pool pays for itself.
int64_t grain_for(int64_t reduce) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(reduce, 1)); }
}  // namespace

void sum_dim(const Tensor& in, const Tensor& out, ReduceGeometry g, double scale) {
  dispatch_floating(out.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(in.data_ptr());
    T* y = static_cast<T*>(out.data_ptr());
    if (g.inner == 1) {
      parallel_for(g.outer, grain_for(g.reduce), [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          y[o] = static_cast<T>(sum_contiguous(x + o * g.reduce, g.reduce) * scale);
        }
      });
      return;
    }
    // Columns: walk r in the outer loop so the inner loop reads contiguous memory. Tasks are
    // (outer, slab of kSlab columns) pairs, so that a sum over dim 0 (outer == 1) still uses
    // every thread; each column is summed in r order by one task, whatever the threads.
    constexpr int64_t kSlab = 512;
    const int64_t slabs = (g.inner + kSlab - 1) / kSlab;
    parallel_for(g.outer * slabs, grain_for(g.reduce * std::min(g.inner, kSlab)), [&](int64_t begin, int64_t end) {
      double acc[kSlab];
      for (int64_t task = begin; task < end; ++task) {
        const int64_t o = task / slabs, i0 = (task % slabs) * kSlab, width = std::min(kSlab, g.inner - i0);
        std::fill(acc, acc + width, 0.0);
        const T* block = x + o * g.reduce * g.inner + i0;
        for (int64_t r = 0; r < g.reduce; ++r) add_row(block + r * g.inner, acc, width);
        for (int64_t i = 0; i < width; ++i) y[o * g.inner + i0 + i] = static_cast<T>(acc[i] * scale);
      }
    });
  });
}

void max_dim(const Tensor& in, const Tensor& values, const Tensor& indices, ReduceGeometry g) {
  dispatch_floating(in.dtype(), "max", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(in.data_ptr());
    T* v = static_cast<T*>(values.data_ptr());
    int64_t* idx = static_cast<int64_t*>(indices.data_ptr());
    parallel_for(g.outer * g.inner, grain_for(g.reduce), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        int64_t o = k / g.inner, i = k % g.inner;
        const T* column = x + o * g.reduce * g.inner + i;
        math::ArgMax<T> best{-std::numeric_limits<T>::infinity(), std::numeric_limits<int64_t>::max()};
        for (int64_t r = 0; r < g.reduce; ++r) best = math::argmax_combine(best, {column[r * g.inner], r});
        v[k] = best.value;
        idx[k] = best.index;
      }
    });
  });
}

void max_dim_backward(const Tensor& grad, const Tensor& indices, const Tensor& grad_in, ReduceGeometry g) {
  dispatch_floating(grad.dtype(), "max_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* gy = static_cast<const T*>(grad.data_ptr());
    const int64_t* idx = static_cast<const int64_t*>(indices.data_ptr());
    T* gx = static_cast<T*>(grad_in.data_ptr());
    parallel_for(g.outer * g.inner, grain_for(g.reduce), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        int64_t o = k / g.inner, i = k % g.inner;
        T* column = gx + o * g.reduce * g.inner + i;
        for (int64_t r = 0; r < g.reduce; ++r) column[r * g.inner] = r == idx[k] ? gy[k] : T(0);
      }
    });
  });
}

}  // namespace ember::kernels::cpu
