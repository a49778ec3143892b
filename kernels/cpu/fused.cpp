// CPU fused kernels: bias + relu in one pass (and its backward, which also reduces the bias
// gradient in the same pass), and max-pool + relu (max_pool_impl.h with the relu folded in).
#include <algorithm>

#include <ember/kernels/cpu/max_pool_impl.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/cpu/vec_sum.h>
#include <ember/kernels/fused.h>

namespace ember::kernels::cpu {

void bias_relu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) {
  const ChannelView v = channel_view(x);
  dispatch_floating(x.dtype(), "bias_relu", [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pb = static_cast<const T*>(bias.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    parallel_for(v.outer * v.channels, std::max<int64_t>(1, 32768 / std::max<int64_t>(v.inner, 1)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t row = begin; row < end; ++row) {
                     const T b = pb[row % v.channels];
                     const T* in = px + row * v.inner;
                     T* o = po + row * v.inner;
                     for (int64_t i = 0; i < v.inner; ++i) {
                       T y = in[i] + b;
                       o[i] = y > T(0) ? y : T(0);
                     }
                   }
                 });
  });
}

void bias_relu_backward(const Tensor& grad_out, const Tensor& out, const Tensor& grad_x, const Tensor& grad_bias) {
  const ChannelView v = channel_view(out);
  dispatch_floating(out.dtype(), "bias_relu_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const T* py = static_cast<const T*>(out.data_ptr());
    T* pdx = grad_x.defined() ? static_cast<T*>(grad_x.data_ptr()) : nullptr;
    T* pdb = grad_bias.defined() ? static_cast<T*>(grad_bias.data_ptr()) : nullptr;
    // Parallel over channels: each thread owns its bias entries, so the reduction needs no locks.
    parallel_for(v.channels, 1, [&](int64_t c_begin, int64_t c_end) {
      for (int64_t c = c_begin; c < c_end; ++c) {
        double total = 0;
        for (int64_t n = 0; n < v.outer; ++n) {
          const int64_t base = (n * v.channels + c) * v.inner;
          if (pdx) {
            for (int64_t i = 0; i < v.inner; ++i) pdx[base + i] = py[base + i] > T(0) ? pg[base + i] : T(0);
            total += sum_contiguous(pdx + base, v.inner);
          } else {
            for (int64_t i = 0; i < v.inner; ++i) total += py[base + i] > T(0) ? pg[base + i] : T(0);
          }
        }
        if (pdb) pdb[c] = static_cast<T>(total);
      }
    });
  });
}

void max_pool2d_relu_forward(const Tensor& x, const Tensor& bias, const Tensor& out, const Tensor& indices,
                             const PoolParams& params) {
  dispatch_floating(x.dtype(), "max_pool2d_relu", [&](auto tag) {
    detail::max_pool2d_planes<decltype(tag), true>(x, bias, out, indices, params);
  });
}

}  // namespace ember::kernels::cpu
