// The differentiable op library: every function records its backward node when an input
// requires grad (and grad mode is on), and runs a CPU kernel or a hand-written CUDA kernel
// (cuBLAS for GEMM, cuDNN for convolution) on the inputs' device. All inputs of an op must be on
// the same device and, for floating ops, of the same dtype; mismatches throw ember::Error naming
// the op, the shapes, dtypes and devices.
#pragma once
#include <array>
#include <cstdint>
#include <utility>

#include <ember/core/tensor.h>

namespace ember {

// ---- elementwise, with NumPy broadcasting (ops/binary_ops.cpp, ops/unary_ops.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor abs(const Tensor& a);  // gradient sign(x), 0 at 0
// Elementwise max(x, min) / min(x, max); NaN stays NaN; the gradient passes where x is within the
// bound, the bound included (as PyTorch). clamp(x, min, max) = clamp_max(clamp_min(x, min), max).
Tensor clamp_min(const Tensor& a, double min);
Tensor clamp_max(const Tensor& a, double max);
Tensor clamp(const Tensor& a, double min, double max);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, double b) { return div(a, b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
inline Tensor operator+(double a, const Tensor& b) { return add(b, a); }
inline Tensor operator-(double a, const Tensor& b) { return add(neg(b), a); }
inline Tensor operator/(double a, const Tensor& b) { return mul(pow(b, -1.0), a); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
// In place, like torch's: not recorded by autograd (see Tensor::add_).
inline Tensor& operator+=(Tensor& a, const Tensor& b) { a.add_(b); return a; }
inline Tensor& operator-=(Tensor& a, const Tensor& b) { a.add_(b, -1.0); return a; }
inline Tensor& operator+=(Tensor& a, double b) { a.add_(b); return a; }
inline Tensor& operator-=(Tensor& a, double b) { a.add_(-b); return a; }
inline Tensor& operator*=(Tensor& a, double b) { a.mul_(b); return a; }
inline Tensor& operator/=(Tensor& a, double b) { a.div_(b); return a; }

// ---- reductions (ops/reduce_ops.cpp) ----
Tensor sum(const Tensor& a);
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim = false);
// Largest value along dim and its index (the first one on ties), like torch.max(a, dim).
std::pair<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);  // int64, not differentiable
// Sums a gradient of a broadcast shape back down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- linear algebra (ops/linear_ops.cpp: OpenBLAS on the CPU, cuBLAS on the GPU) ----
// (n, k) @ (k, m) -> (n, m); (b, n, k) @ (b, k, m); as torch.matmul also a vector on either side
// ((k) @ (k, m) -> (m), (n, k) @ (k) -> (n), (k) @ (k) -> ()) and stacks whose batch dims
// broadcast ((n, k) @ (b, k, m) -> (b, n, m), (2, 1, n, k) @ (5, k, m) -> (2, 5, n, m)).
Tensor matmul(const Tensor& a, const Tensor& b);
// x (N, in) @ weight (out, in)^T + bias (out) -> (N, out); also x (in) or (..., in). bias may be
// undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- convolution and pooling (ops/conv_ops.cpp, ops/pool_ops.cpp) ----
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
};
// x (N, C, H, W), weight (K, C, R, S), bias (K) or undefined -> (N, K, P, Q).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dParams& params = {});
// x (N, C, H, W) -> (N, C, P, Q); stride defaults to the kernel size (as in PyTorch).
Tensor max_pool2d(const Tensor& x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride = {0, 0},
                  std::array<int64_t, 2> padding = {0, 0});

// ---- softmax and losses (ops/softmax_ops.cpp, ops/loss_ops.cpp) ----
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
enum class Reduction { None, Mean, Sum };
// log_probs (N, C), target (N) int64 class indices.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction = Reduction::Mean);
// logits (N, C): log_softmax + nll_loss, fused and numerically stable.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::Mean);
// (input - target)^2, reduced; input and target of one shape (torch.nn.functional.mse_loss).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// ---- regularisation (ops/dropout_ops.cpp) ----
// Zeroes each element with probability p and scales the rest by 1/(1-p) while training.
Tensor dropout(const Tensor& x, double p, bool training);

// ---- fused (ops/fused_ops.cpp): one kernel where the unfused version would take several ----
// relu(x + bias), bias broadcast over dim 1 (channels/features).
Tensor bias_relu(const Tensor& x, const Tensor& bias);
// relu(linear(x, weight, bias)): x (N, in) (or (in), (..., in)), weight (out, in), bias (out),
// required -> (N, out). One
// cuBLASLt call with a bias + relu epilogue on the GPU; backward: the bias_relu backward kernel on
// the saved output (relu mask and bias gradient), then linear's two GEMMs (ops/linear_ops.cpp).
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias);
// relu(max_pool2d(x) + bias): pooling and activation in one pass (stride = kernel). The optional
// bias (C) is a convolution's, folded in: conv2d(x, w) then max_pool2d_relu(., k, b) equals
// relu(max_pool2d(conv2d(x, w, b), k)) without a pass over the convolution's output to add b.
Tensor max_pool2d_relu(const Tensor& x, std::array<int64_t, 2> kernel, const Tensor& bias = Tensor());

// ---- non-differentiable helpers ----
Tensor eq(const Tensor& a, const Tensor& b);          // uint8 mask
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);  // differentiable w.r.t. a
Tensor cat(const TensorList& tensors, int64_t dim);   // differentiable

}  // namespace ember
