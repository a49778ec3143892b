// CPU max pooling: the forward loop is in max_pool_impl.h; backward scatters each output's
// gradient to its saved argmax, plane by plane (planes are independent, so no races).
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

}  // namespace ember::kernels::cpu
