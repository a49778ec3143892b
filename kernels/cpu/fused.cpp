// CPU fused kernels: bias + relu in one pass (and its backward, which also reduces the bias
// gradient in the same pass), and max-pool + relu (max_pool_impl.h with the relu folded in).
#include <algorithm>
#include <vector>

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
                       o[i] = y < T(0) ? T(0) : y;  // NaN passes, as in PyTorch
                     }
                   }
                 });
  });
}

namespace {

// dx = 0 where y <= 0, else g (NaN passes, as in PyTorch), over n contiguous elements. The restrict pointers let the compiler
// turn the select into compare masks and blends: with aliasing possible it kept a branch per
// element, which mispredicts on half of them (a relu's output is positive about half the time).
template <typename T>
void relu_grad_run(const T* __restrict__ g, const T* __restrict__ y, T* __restrict__ dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] <= T(0) ? T(0) : g[i];
}

}  // namespace

void bias_relu_backward(const Tensor& grad_out, const Tensor& out, const Tensor& grad_x, const Tensor& grad_bias) {
  const ChannelView v = channel_view(out);
  dispatch_floating(out.dtype(), "bias_relu_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const T* py = static_cast<const T*>(out.data_ptr());
    // Without grad_x the masked gradient goes through a per-thread scratch row instead.
    T* pdx = grad_x.defined() ? static_cast<T*>(grad_x.data_ptr()) : nullptr;
    T* pdb = grad_bias.defined() ? static_cast<T*>(grad_bias.data_ptr()) : nullptr;
    const int64_t outer = v.outer, channels = v.channels, inner = v.inner;
    // Parallel over channels: each thread owns its bias entries, so the reduction needs no locks.
    // Images in the outer loop, so that a thread reads its channels' rows in memory order (for a
    // (N, C) input, inner == 1, a channel alone would be a column). Each channel sums its rows in
    // image order whatever the threads: the result does not depend on them.
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(outer * inner, 1));
    parallel_for(channels, grain, [=](int64_t c_begin, int64_t c_end) {
      const int64_t run = (c_end - c_begin) * inner;  // this thread's channels in one image
      std::vector<double> totals(static_cast<size_t>(c_end - c_begin), 0.0);
      std::vector<T> scratch(pdx ? 0 : static_cast<size_t>(run));
      for (int64_t n = 0; n < outer; ++n) {
        const int64_t base = (n * channels + c_begin) * inner;
        T* dx = pdx ? pdx + base : scratch.data();
        relu_grad_run(pg + base, py + base, dx, run);
        if (inner == 1) {
          add_row(dx, totals.data(), run);
        } else {
          for (int64_t c = 0; c < c_end - c_begin; ++c) totals[static_cast<size_t>(c)] += sum_contiguous(dx + c * inner, inner);
        }
      }
      if (pdb)
        for (int64_t c = c_begin; c < c_end; ++c) pdb[c] = static_cast<T>(totals[static_cast<size_t>(c - c_begin)]);
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
