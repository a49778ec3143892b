// matmul and linear (kernels/gemm.h: OpenBLAS on the CPU, cuBLAS on the GPU).
//   C = A @ B:          dA = g @ B^T,  dB = A^T @ g
//   y = x @ W^T + b:    dx = g @ W,    dW = g^T @ x,   db = sum of g over rows
// Transposed operands are passed to the GEMM as strided views (no copies); the backward formulas
// are written with matmul itself, which records nothing under the engine's no_grad.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/gemm.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

// t itself when the GEMM can read it, else a contiguous copy.
Tensor gemm_operand(const Tensor& t) { return kernels::gemm_operand_ok(t) ? t : t.contiguous(); }

// The last two dims swapped, as a view.
Tensor transposed(const Tensor& t) { return t.transpose(t.dim() - 2, t.dim() - 1); }

// out = a @ b without autograd, on validated inputs.
Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  Shape out_shape = a.sizes();
  out_shape.back() = b.sizes().back();
  Tensor out = ops::empty_as(a, out_shape);
  EMBER_KERNEL(a.device(), gemm, gemm_operand(a), gemm_operand(b), out, 1.0, 0.0);
  return out;
}

class MatmulBackward : public autograd::Node {
 public:
  MatmulBackward(const Tensor& a, const Tensor& b) : a_(a.detach()), b_(b.detach()) {}
  std::string name() const override { return "MatmulBackward"; }
  void release_saved() override {
    a_ = Tensor();
    b_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    const Tensor& g = grads[0];
    return {needs_input_grad(0) ? matmul(g, transposed(b_)) : Tensor(),
            needs_input_grad(1) ? matmul(transposed(a_), g) : Tensor()};
  }

 private:
  Tensor a_, b_;
};

class LinearBackward : public autograd::Node {
 public:
  LinearBackward(const Tensor& x, const Tensor& weight) : x_(x.detach()), weight_(weight.detach()) {}
  std::string name() const override { return "LinearBackward"; }
  void release_saved() override {
    x_ = Tensor();
    weight_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    const Tensor& g = grads[0];
    TensorList out(next_edges().size());
    if (needs_input_grad(0)) out[0] = matmul(g, weight_);
    if (needs_input_grad(1)) out[1] = matmul(g.t(), x_);
    if (needs_input_grad(2)) out[2] = sum(g, {0});
    return out;
  }

 private:
  Tensor x_, weight_;
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  ops::check_same_device_dtype("matmul", {{"self", &a}, {"other", &b}});
  ops::check_floating("matmul", a);
  EMBER_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3),
              "matmul: expected two 2-d matrices (n, k) @ (k, m) or two 3-d batches (b, n, k) @ (b, k, m), got ",
              ops::describe({{"self", &a}, {"other", &b}}));
  EMBER_CHECK(a.sizes().back() == b.size(b.dim() - 2), "matmul: inner dimensions differ: ",
              shape_str(a.sizes()), " @ ", shape_str(b.sizes()));
  EMBER_CHECK(a.dim() == 2 || a.size(0) == b.size(0), "matmul: batch sizes differ: ", shape_str(a.sizes()), " @ ",
              shape_str(b.sizes()));
  Tensor out = matmul_forward(a, b);
  if (!autograd::any_requires_grad({a, b})) return out;
  return autograd::record(std::make_shared<MatmulBackward>(a, b), {a, b}, out);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  ops::check_same_device_dtype("linear", {{"input", &x}, {"weight", &weight}});
  if (bias.defined()) ops::check_same_device_dtype("linear", {{"input", &x}, {"bias", &bias}});
  ops::check_floating("linear", x);
  ops::check_dim("linear", x, 2, "(N, in_features) as input");
  ops::check_dim("linear", weight, 2, "(out_features, in_features) as weight");
  EMBER_CHECK(x.size(1) == weight.size(1), "linear: input has ", x.size(1), " features but weight expects ",
              weight.size(1), ": ", ops::describe({{"input", &x}, {"weight", &weight}}));
  EMBER_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)),
              "linear: expected bias of shape [", weight.size(0), "], got ", bias.defined() ? bias.str() : "");
  Tensor out = ops::empty_as(x, {x.size(0), weight.size(0)});
  double beta = 0.0;
  if (bias.defined()) {  // out starts as the bias rows; the GEMM accumulates onto it.
    out.copy_(ops::broadcast_view(bias.detach(), out.sizes()));
    beta = 1.0;
  }
  EMBER_KERNEL(x.device(), gemm, gemm_operand(x), gemm_operand(transposed(weight)), out, 1.0, beta);
  TensorList inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (!autograd::any_requires_grad(inputs)) return out;
  return autograd::record(std::make_shared<LinearBackward>(x, weight), inputs, out);
}

}  // namespace ember
