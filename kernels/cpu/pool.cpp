// CPU max pooling: the forward loop is in max_pool_impl.h. Backward works plane by plane (planes
// are independent, so no races). Plain max_pool2d's backward zeroes the plane and scatters each
// output's gradient to its argmax. The fused pool + bias + relu's backward gathers instead (its
// windows are disjoint) and sums the bias gradient in the same pass: about half of its indices
// are -1 (cut by the relu), and the scatter's branch on them mispredicts. Measured on one thread
// of a Xeon (Emerald Rapids), -march=x86-64-v3, planes of the Net with 50 % of the indices cut:
// 24x24 planes scatter 815 us / gather 248 us per 1000, 8x8 planes 176 / 89 us per 2000; with
// no index cut the scatter is the faster one (8x8: 58 / 153 us).
#include <algorithm>
#include <vector>

#include <ember/core/error.h>
#include <ember/kernels/cpu/max_pool_impl.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/cpu/vec_sum.h>
#include <ember/kernels/pool.h>

namespace ember::kernels::cpu {

void max_pool2d_forward(const Tensor& x, const Tensor& out, const Tensor& indices, const PoolParams& params) {
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    detail::max_pool2d_planes<decltype(tag), false>(x, Tensor(), out, indices, params);
  });
}

namespace {

// Disjoint windows (stride >= kernel): input (h, w) lies in at most one window, (oh, ow) =
// ((h + ph) / sh, (w + pw) / sw), when that output exists and h + ph - oh*sh < kh (likewise w):
//   grad_x[h, w] = grad_out[oh, ow] if indices[oh, ow] == h*W + w, else 0
// (an index of -1, where the fused relu cut the gradient, matches no input). Each element of the
// plane is written once, in order, with no branch on the data: the same gather as CUDA's.
template <typename T>
void gather_plane(const T* __restrict__ grad_out, const int64_t* __restrict__ indices, T* __restrict__ grad_x,
                  int64_t H, int64_t W, int64_t P, int64_t Q, PoolParams pp) {
  const int64_t kh = pp.kernel[0], kw = pp.kernel[1], sh = pp.stride[0], sw = pp.stride[1];
  const int64_t ph = pp.padding[0], pw = pp.padding[1];
  for (int64_t h = 0; h < H; ++h) {
    T* row = grad_x + h * W;
    const int64_t oh = (h + ph) / sh;
    if (oh >= P || h + ph - oh * sh >= kh) {  // a row no window covers
      std::fill(row, row + W, T(0));
      continue;
    }
    const T* g = grad_out + oh * Q;
    const int64_t* at = indices + oh * Q;
    const int64_t row_start = h * W;
    if (kw == 2 && sw == 2 && pw == 0) {  // the Net's windows: pairs of columns, no gaps
      for (int64_t ow = 0; ow < Q; ++ow) {
        row[2 * ow] = at[ow] == row_start + 2 * ow ? g[ow] : T(0);
        row[2 * ow + 1] = at[ow] == row_start + 2 * ow + 1 ? g[ow] : T(0);
      }
      std::fill(row + 2 * Q, row + W, T(0));
      continue;
    }
    int64_t w = 0;
    for (int64_t ow = 0; ow < Q; ++ow) {
      const int64_t w_begin = std::max<int64_t>(ow * sw - pw, 0), w_end = std::min(ow * sw - pw + kw, W);
      for (; w < w_begin; ++w) row[w] = T(0);
      for (; w < w_end; ++w) row[w] = at[ow] == row_start + w ? g[ow] : T(0);
    }
    for (; w < W; ++w) row[w] = T(0);
  }
}

// Any windows (overlapping ones may pick the same input, hence the add).
template <typename T>
void scatter_plane(const T* grad_out, const int64_t* indices, T* grad_x, int64_t HW, int64_t PQ) {
  std::fill(grad_x, grad_x + HW, T(0));
  for (int64_t o = 0; o < PQ; ++o)
    if (indices[o] >= 0) grad_x[indices[o]] += grad_out[o];
}

}  // namespace

void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,
                         const PoolParams& params) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1), H = grad_x.size(2), W = grad_x.size(3);
  const int64_t P = grad_out.size(2), Q = grad_out.size(3);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* pi = static_cast<const int64_t*>(indices.data_ptr());
    T* pdx = static_cast<T*>(grad_x.data_ptr());
    parallel_for(planes, 16, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane)
        scatter_plane(pg + plane * P * Q, pi + plane * P * Q, pdx + plane * H * W, H * W, P * Q);
    });
  });
}

void max_pool2d_backward_with_bias(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x,
                                   const Tensor& grad_bias, const PoolParams& params) {
  EMBER_CHECK(!params.windows_overlap(), "max_pool2d_backward_with_bias: needs disjoint windows");
  const int64_t N = grad_x.size(0), C = grad_x.size(1), H = grad_x.size(2), W = grad_x.size(3);
  const int64_t P = grad_out.size(2), Q = grad_out.size(3);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward_with_bias", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* pi = static_cast<const int64_t*>(indices.data_ptr());
    T* pdx = static_cast<T*>(grad_x.data_ptr());
    // grad_bias[c] = sum over n, p, q of grad_out[n, c, p, q] where indices[n, c, p, q] >= 0
    //             = sum over n, h, w of grad_x[n, c, h, w]
    // (a surviving output's gradient lands on exactly one input, and disjoint windows share none).
    // The plane's sum is read back from grad_x while it is in L1 (a vectorised sum, where a test of
    // each index would be a branch that mispredicts on half of them), in double, then summed per
    // channel in plane order: no dependence on the threads.
    std::vector<double> plane_sums(static_cast<size_t>(N * C));
    parallel_for(N * C, 16, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        T* dx = pdx + plane * H * W;
        gather_plane(pg + plane * P * Q, pi + plane * P * Q, dx, H, W, P, Q, params);
        plane_sums[static_cast<size_t>(plane)] = sum_contiguous(dx, H * W);
      }
    });
    T* pdb = static_cast<T*>(grad_bias.data_ptr());
    for (int64_t c = 0; c < C; ++c) {
      double total = 0;
      for (int64_t n = 0; n < N; ++n) total += plane_sums[static_cast<size_t>(n * C + c)];
      pdb[c] = static_cast<T>(total);
    }
  });
}

}  // namespace ember::kernels::cpu
