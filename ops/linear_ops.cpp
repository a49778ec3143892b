// matmul and linear (kernels/gemm.h: OpenBLAS on the CPU, cuBLAS on the GPU; linear with a bias
// through gemm_bias, one cuBLASLt call with the bias in its epilogue; dW and db through
// gemm_bias_grad, one cuBLASLt call with the bias gradient reduced in its epilogue).
//   C = A @ B:          dA = g @ B^T,  dB = A^T @ g
//   y = x @ W^T + b:    dx = g @ W,    dW = g^T @ x,   db = sum of g over rows
//   y = relu(x @ W^T + b) (linear_relu, fused): the same with gz = g * (y > 0) in place of g
// Transposed operands are passed to the GEMM as strided views (no copies); the backward formulas
// are written with matmul itself, which records nothing under the engine's no_grad.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/fused.h>
#include <ember/kernels/gemm.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>
#include <ember/ops/weight_grad_branch.h>

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
  MatmulBackward(const Tensor& a, const Tensor& b) : a_(save(a)), b_(save(b)) {}
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
  LinearBackward(const Tensor& x, const Tensor& weight) : x_(save(x)), weight_(save(weight)) {}
  std::string name() const override { return "LinearBackward"; }
  void release_saved() override {
    x_ = Tensor();
    weight_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    const Tensor& g = grads[0];
    TensorList out(next_edges().size());
    ops::WeightGradBranch branch(g.device(), needs_input_grad(0) && (needs_input_grad(1) || needs_input_grad(2)));
    branch.run([&] {
      if (needs_input_grad(1) && needs_input_grad(2)) {
        const Tensor gt = gemm_operand(g.t());  // db = row sums of g^T, dW = g^T @ x in one call
        out[1] = ops::empty_as(x_, {gt.size(0), x_.size(1)});
        out[2] = ops::empty_as(x_, {gt.size(0)});
        EMBER_KERNEL(g.device(), gemm_bias_grad, gt, gemm_operand(x_), out[1], out[2]);
      } else {
        if (needs_input_grad(1)) out[1] = matmul(g.t(), x_);
        if (needs_input_grad(2)) out[2] = sum(g, {0});
      }
    });
    if (needs_input_grad(0)) out[0] = matmul(g, weight_);
    branch.join();
    return out;
  }

 private:
  Tensor x_, weight_;
};

// The checks linear and linear_relu share; bias may be undefined.
void check_linear_args(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  ops::check_same_device_dtype(op, {{"input", &x}, {"weight", &weight}});
  if (bias.defined()) ops::check_same_device_dtype(op, {{"input", &x}, {"bias", &bias}});
  ops::check_floating(op, x);
  ops::check_dim(op, x, 2, "(N, in_features) as input");
  ops::check_dim(op, weight, 2, "(out_features, in_features) as weight");
  EMBER_CHECK(x.size(1) == weight.size(1), op, ": input has ", x.size(1), " features but weight expects ",
              weight.size(1), ": ", ops::describe({{"input", &x}, {"weight", &weight}}));
  EMBER_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), op,
              ": expected bias of shape [", weight.size(0), "], got ", bias.defined() ? bias.str() : "");
}

// y = relu(x @ W^T + b), from the saved output: gz = g * (y > 0) and db = sum of gz over rows in one
// bias_relu_backward launch, then dx = gz @ W and dW = gz^T @ x as in LinearBackward.
class LinearReluBackward : public autograd::Node {
 public:
  LinearReluBackward(const Tensor& x, const Tensor& weight, const Tensor& out)
      : x_(save(x)), weight_(save(weight)), out_(save(out)) {}
  std::string name() const override { return "LinearReluBackward"; }
  void release_saved() override {
    x_ = Tensor();
    weight_ = Tensor();
    out_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    const bool need_pre = needs_input_grad(0) || needs_input_grad(1);
    Tensor grad_pre = need_pre ? ops::empty_as(out_, out_.sizes()) : Tensor();
    Tensor grad_bias = needs_input_grad(2) ? ops::empty_as(out_, {out_.size(1)}) : Tensor();
    if (out_.numel() == 0) {  // no launch for an empty batch; the bias gradient is an empty sum
      if (grad_bias.defined()) grad_bias.fill_(0.0);
    } else {
      EMBER_KERNEL(out_.device(), bias_relu_backward, grads[0].contiguous(), out_, grad_pre, grad_bias);
    }
    TensorList out(next_edges().size());
    ops::WeightGradBranch branch(out_.device(), needs_input_grad(0) && needs_input_grad(1));
    branch.run([&] {
      if (needs_input_grad(1)) out[1] = matmul(grad_pre.t(), x_);
    });
    if (needs_input_grad(0)) out[0] = matmul(grad_pre, weight_);
    branch.join();
    out[2] = grad_bias;
    return out;
  }

 private:
  Tensor x_, weight_, out_;
};

// The rows of every leading dim of t as one matrix: (..., k) -> (prod(...), k) (a view when the
// layout allows; the reshape's backward restores the shape of the gradient).
Tensor as_rows(const Tensor& t) {
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < t.dim(); ++d) rows *= t.size(d);
  return t.reshape({rows, t.size(-1)});
}

// The shape of t with its last dim replaced by `last`.
Shape with_last(const Tensor& t, int64_t last) {
  Shape shape = t.sizes();
  shape.back() = last;
  return shape;
}

// Two matrices, or two batches of one size: the product with its own backward node.
Tensor matmul_matrices(const Tensor& a, const Tensor& b) {
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

// The dims of t before its last two (a matrix's batch shape is empty).
Shape batch_dims(const Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end() - 2); }

// Shape `lead` followed by the dims a and b.
Shape joined(Shape lead, int64_t a, int64_t b) {
  lead.push_back(a);
  lead.push_back(b);
  return lead;
}

}  // namespace

// torch.matmul's forms beyond matrices, reduced to them by views: a vector is a matrix of one row
// (on the left) or one column (on the right), dropped from the result; a stack of matrices
// (..., n, k) times one matrix (k, m) is one tall matrix of all the rows; otherwise the batch dims
// broadcast and fold into one (expanded operands keep batch stride 0 where the fold is a view, and
// the expand's backward sums the gradient back to each operand's own batch shape).
Tensor matmul(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.defined() && b.defined(), "matmul: arguments must be defined");
  EMBER_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least one dim, got ",
              ops::describe({{"self", &a}, {"other", &b}}));
  if (a.dim() == 1 || b.dim() == 1) {
    Tensor out = matmul(a.dim() == 1 ? a.unsqueeze(0) : a, b.dim() == 1 ? b.unsqueeze(1) : b);
    if (a.dim() == 1) out = out.squeeze(-2);
    if (b.dim() == 1) out = out.squeeze(-1);
    return out;
  }
  if (a.dim() == 2 && b.dim() == 2) return matmul_matrices(a, b);
  EMBER_CHECK(a.size(-1) == b.size(-2), "matmul: inner dimensions differ: ", shape_str(a.sizes()), " @ ",
              shape_str(b.sizes()));
  if (b.dim() == 2) return matmul_matrices(as_rows(a), b).reshape(with_last(a, b.size(1)));
  const Shape batch = broadcast_shapes(batch_dims(a), batch_dims(b), "matmul (batch dims)");
  const int64_t n = a.size(-2), k = a.size(-1), m = b.size(-1), count = shape_numel(batch);
  const Tensor a3 = a.expand(joined(batch, n, k)).reshape({count, n, k});
  const Tensor b3 = b.expand(joined(batch, k, m)).reshape({count, k, m});
  return matmul_matrices(a3, b3).reshape(joined(batch, n, m));
}

namespace {

// A (N, in) -> (N, out) op applied to (in) and (..., in) inputs as torch's linear is: a vector is
// one row, and the leading dims of a stack are the rows of one matrix.
template <class MatrixOp>
Tensor over_rows(const char* op, const Tensor& x, const Tensor& weight, MatrixOp matrix_op) {
  EMBER_CHECK(x.defined() && weight.defined(), op, ": input and weight must be defined");
  ops::check_dim(op, weight, 2, "(out_features, in_features) as weight");
  if (x.dim() == 1) return matrix_op(x.unsqueeze(0)).squeeze(0);
  if (x.dim() > 2) return matrix_op(as_rows(x)).reshape(with_last(x, weight.size(0)));
  return matrix_op(x);
}

Tensor linear_matrix(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear_args("linear", x, weight, bias);
  Tensor out = ops::empty_as(x, {x.size(0), weight.size(0)});
  if (bias.defined())  // one cuBLASLt call with a bias epilogue on the GPU
    EMBER_KERNEL(x.device(), gemm_bias, gemm_operand(x), gemm_operand(transposed(weight)),
                 bias.detach().contiguous(), out, false);
  else
    EMBER_KERNEL(x.device(), gemm, gemm_operand(x), gemm_operand(transposed(weight)), out, 1.0, 0.0);
  TensorList inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (!autograd::any_requires_grad(inputs)) return out;
  return autograd::record(std::make_shared<LinearBackward>(x, weight), inputs, out);
}

Tensor linear_relu_matrix(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear_args("linear_relu", x, weight, bias);
  Tensor out = ops::empty_as(x, {x.size(0), weight.size(0)});
  EMBER_KERNEL(x.device(), gemm_bias, gemm_operand(x), gemm_operand(transposed(weight)), bias.detach().contiguous(),
               out, true);
  if (!autograd::any_requires_grad({x, weight, bias})) return out;
  return autograd::record(std::make_shared<LinearReluBackward>(x, weight, out), {x, weight, bias}, out);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return over_rows("linear", x, weight, [&](const Tensor& rows) { return linear_matrix(rows, weight, bias); });
}

Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  EMBER_CHECK(bias.defined(), "linear_relu: expected a bias of shape [", weight.defined() && weight.dim() > 0 ? weight.size(0) : 0,
              "], got an undefined tensor");
  return over_rows("linear_relu", x, weight,
                   [&](const Tensor& rows) { return linear_relu_matrix(rows, weight, bias); });
}

}  // namespace ember
