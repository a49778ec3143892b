// CPU GEMM with a bias and an optional relu: the reference for kernels/cuda/gemm_lt.cpp. Each mode
// keeps the arithmetic of the unfused ops it replaced, so CPU results (and recorded losses) did not
// change with the fusion:
//   relu = false: c = bias rows, then the GEMM accumulates onto them (beta 1), as linear did;
//   relu = true:  c = a @ b (beta 0), then max(c + bias, 0), as bias_relu(linear(x, w), b) did.
// gemm_bias_grad likewise: the GEMM, then the reduce kernel that sum(g, {0}) runs, in its order.
#include <algorithm>

#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/fused.h>
#include <ember/kernels/gemm.h>
#include <ember/kernels/reduce.h>

namespace ember::kernels::cpu {

void gemm_bias(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& c, bool relu) {
  EMBER_CHECK(c.dim() == 2 && bias.dim() == 1 && bias.size(0) == c.size(1) && bias.is_contiguous() &&
                  c.is_contiguous(),
              "gemm_bias: expected a contiguous (M, N) output and a contiguous (N) bias, got ", c.str(), ", ",
              bias.str());
  const int64_t M = c.size(0), N = c.size(1);
  if (M == 0 || N == 0) return;
  if (relu) {
    gemm(a, b, c, 1.0, 0.0);
    bias_relu_forward(c, bias, c);  // elementwise, so in place is safe
    return;
  }
  dispatch_floating(c.dtype(), "gemm_bias", [&](auto tag) {
    using T = decltype(tag);
    const T* pb = static_cast<const T*>(bias.data_ptr());
    T* pc = static_cast<T*>(c.data_ptr());
    parallel_for(M, std::max<int64_t>(1, 32768 / N), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        for (int64_t j = 0; j < N; ++j) pc[i * N + j] = pb[j];
    });
  });
  gemm(a, b, c, 1.0, 1.0);
}

void gemm_bias_grad(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& bias_grad) {
  EMBER_CHECK(a.dim() == 2 && c.dim() == 2 && bias_grad.dim() == 1 && bias_grad.size(0) == a.size(0) &&
                  bias_grad.is_contiguous(),
              "gemm_bias_grad: expected a 2-d first operand and a contiguous bias gradient of its rows, got ",
              a.str(), ", ", bias_grad.str());
  gemm(a, b, c, 1.0, 0.0);
  if (bias_grad.numel() == 0) return;
  const RowSumInput rows = row_sum_input(a);
  sum_dim(rows.input, bias_grad, rows.geometry, 1.0);
}

}  // namespace ember::kernels::cpu
