// Pointwise unary ops and their derivatives:
//   neg: -g   exp: g*y   log: g/x   sqrt: g/(2y)   pow(x,s): g*s*x^(s-1)
//   relu: g*(x>0)   sigmoid: g*y*(1-y)   tanh: g*(1-y^2)   x+s: g   x*s: g*s
//   abs: g*sign(x)   clamp_min(x,s): g*(x>=s)   clamp_max(x,s): g*(x<=s)
#include <ember/kernels/dispatch.h>
#include <ember/kernels/elementwise.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

using kernels::BinaryOp;
using kernels::UnaryOp;

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Pow: return "pow";
    case UnaryOp::AddScalar: return "add";
    case UnaryOp::MulScalar: return "mul";
    case UnaryOp::DivScalar: return "div";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::ClampMin: return "clamp_min";
    case UnaryOp::ClampMax: return "clamp_max";
  }
  return "unary";
}

Tensor unary_forward(UnaryOp op, const Tensor& x, double scalar) {
  ops::check_floating(op_name(op), x);
  Tensor out = ops::empty_as(x, x.sizes());
  EMBER_KERNEL(x.device(), unary, op, x, out, scalar);
  return out;
}

// g combined pointwise with a saved tensor by one of the backward kernels.
Tensor pointwise_backward(BinaryOp op, const Tensor& g, const Tensor& saved, double scalar = 0.0) {
  Tensor out = ops::empty_as(saved, saved.sizes());
  EMBER_KERNEL(saved.device(), binary, op, g.contiguous(), saved, out, scalar);
  return out;
}

class UnaryBackward : public autograd::Node {
 public:
  UnaryBackward(UnaryOp op, double scalar, const Tensor& x, const Tensor& y) : op_(op), scalar_(scalar) {
    switch (op) {
      case UnaryOp::Log: case UnaryOp::Relu: case UnaryOp::Pow: case UnaryOp::Abs: case UnaryOp::ClampMin:
      case UnaryOp::ClampMax: saved_ = save(x); break;
      case UnaryOp::Exp: case UnaryOp::Sqrt: case UnaryOp::Sigmoid: case UnaryOp::Tanh: saved_ = save(y); break;
      default: break;
    }
  }
  std::string name() const override { return std::string(op_name(op_)) + "Backward"; }
  void release_saved() override { saved_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    const Tensor& g = grads[0];
    switch (op_) {
      case UnaryOp::Neg: return {neg(g)};
      case UnaryOp::AddScalar: return {g};
      case UnaryOp::MulScalar: return {mul(g, scalar_)};
      case UnaryOp::DivScalar: return {div(g, scalar_)};
      default: break;
    }
    check_not_released();
    switch (op_) {
      case UnaryOp::Exp: return {mul(g, saved_)};
      case UnaryOp::Log: return {div(g, saved_)};
      case UnaryOp::Sqrt: return {div(g, mul(saved_, 2.0))};
      case UnaryOp::Relu: return {pointwise_backward(BinaryOp::ReluBackward, g, saved_)};
      case UnaryOp::Sigmoid: return {pointwise_backward(BinaryOp::SigmoidBackward, g, saved_)};
      case UnaryOp::Tanh: return {pointwise_backward(BinaryOp::TanhBackward, g, saved_)};
      case UnaryOp::Pow: return {pointwise_backward(BinaryOp::PowBackward, g, saved_, scalar_)};
      case UnaryOp::Abs: return {pointwise_backward(BinaryOp::AbsBackward, g, saved_)};
      case UnaryOp::ClampMin: return {pointwise_backward(BinaryOp::ClampMinBackward, g, saved_, scalar_)};
      case UnaryOp::ClampMax: return {pointwise_backward(BinaryOp::ClampMaxBackward, g, saved_, scalar_)};
      default: EMBER_FAIL("unexpected op in UnaryBackward");
    }
  }

 private:
  UnaryOp op_;
  double scalar_;
  Tensor saved_;
};

Tensor unary(UnaryOp op, const Tensor& x, double scalar = 0.0) {
  Tensor out = unary_forward(op, x, scalar);
  if (!autograd::any_requires_grad({x})) return out;
  return autograd::record(std::make_shared<UnaryBackward>(op, scalar, x, out), {x}, out);
}

}  // namespace

Tensor neg(const Tensor& a) { return unary(UnaryOp::Neg, a); }
Tensor exp(const Tensor& a) { return unary(UnaryOp::Exp, a); }
Tensor log(const Tensor& a) { return unary(UnaryOp::Log, a); }
Tensor sqrt(const Tensor& a) { return unary(UnaryOp::Sqrt, a); }
Tensor pow(const Tensor& a, double exponent) { return unary(UnaryOp::Pow, a, exponent); }
Tensor relu(const Tensor& a) { return unary(UnaryOp::Relu, a); }
Tensor sigmoid(const Tensor& a) { return unary(UnaryOp::Sigmoid, a); }
Tensor tanh(const Tensor& a) { return unary(UnaryOp::Tanh, a); }
Tensor abs(const Tensor& a) { return unary(UnaryOp::Abs, a); }
Tensor clamp_min(const Tensor& a, double min) { return unary(UnaryOp::ClampMin, a, min); }
Tensor clamp_max(const Tensor& a, double max) { return unary(UnaryOp::ClampMax, a, max); }
// min > max gives max everywhere, as torch.clamp.
Tensor clamp(const Tensor& a, double min, double max) { return clamp_max(clamp_min(a, min), max); }
Tensor add(const Tensor& a, double b) { return unary(UnaryOp::AddScalar, a, b); }
Tensor mul(const Tensor& a, double b) { return unary(UnaryOp::MulScalar, a, b); }
Tensor div(const Tensor& a, double b) { return unary(UnaryOp::DivScalar, a, b); }

}  // namespace ember
