// CPU max pooling: the forward loop is in max_pool_impl.h; backward scatters each output's
// gradient to its saved argmax, plane by plane (planes are independent, so no races). The bias
// gradient of the fused pool + bias + relu is a plain sum per channel: the reference for CUDA's
// one-launch kernel.
#include <algorithm>

#include <ember/kernels/cpu/max_pool_impl.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/pool.h>

namespace ember::kernels::cpu {

void max_pool2d_forward(const Tensor& x, const Tensor& out, const Tensor& indices, const PoolParams& params) {
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    detail::max_pool2d_planes<decltype(tag), false>(x, Tensor(), out, indices, params);
  });
}

void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,
                         const PoolParams& params) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1), HW = grad_x.size(2) * grad_x.size(3);
  const int64_t PQ = grad_out.size(2) * grad_out.size(3);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* pi = static_cast<const int64_t*>(indices.data_ptr());
    T* pdx = static_cast<T*>(grad_x.data_ptr());
    parallel_for(planes, 16, [&](int64_t begin, int64_t end) {
      std::fill(pdx + begin * HW, pdx + end * HW, T(0));
      for (int64_t plane = begin; plane < end; ++plane) {
        T* dx = pdx + plane * HW;
        for (int64_t o = plane * PQ; o < (plane + 1) * PQ; ++o)
          if (pi[o] >= 0) dx[pi[o]] += pg[o];
      }
    });
  });
}

void max_pool2d_backward_with_bias(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,
                                   const Tensor& grad_bias, const PoolParams& params) {
  max_pool2d_backward(grad_out, indices, grad_x, params);
  const int64_t N = grad_out.size(0), C = grad_out.size(1), PQ = grad_out.size(2) * grad_out.size(3);
  dispatch_floating(grad_bias.dtype(), "max_pool2d_backward_with_bias", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* pi = static_cast<const int64_t*>(indices.data_ptr());
    T* pdb = static_cast<T*>(grad_bias.data_ptr());
    // grad_bias[c] = sum over n, o of grad_out[n, c, o] where indices[n, c, o] >= 0 (in double).
    parallel_for(C, 1, [&](int64_t c_begin, int64_t c_end) {
      for (int64_t c = c_begin; c < c_end; ++c) {
        double total = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t o = (n * C + c) * PQ; o < (n * C + c + 1) * PQ; ++o)
            if (pi[o] >= 0) total += pg[o];
        pdb[c] = static_cast<T>(total);
      }
    });
  });
}

}  // namespace ember::kernels::cpu
