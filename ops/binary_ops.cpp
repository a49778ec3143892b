// add, sub, mul, div with NumPy broadcasting, their scalar forms, eq, and in-place axpy.
//   d(a+b) = (g, g)        d(a-b) = (g, -g)
//   d(a*b) = (g*b, g*a)    d(a/b) = (g/b, -g*a/b^2)
// Gradients of broadcast inputs are summed back to the input's shape (sum_to).
#include <ember/core/memory_overlap.h>
#include <ember/kernels/dispatch.h>
#include <ember/kernels/elementwise.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

using kernels::BinaryOp;

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    default: return "binary";
  }
}

// The kernel call without autograd: out = op(a, b) at the broadcast shape.
Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, double scalar = 0.0) {
  const char* name = op_name(op);
  ops::check_same_device_dtype(name, {{"self", &a}, {"other", &b}});
  ops::check_floating(name, a);
  Shape shape = broadcast_shapes(a.sizes(), b.sizes(), name);
  Tensor out = ops::empty_as(a, shape);
  EMBER_KERNEL(a.device(), binary, op, ops::broadcast_view(a, shape, name), ops::broadcast_view(b, shape, name), out,
               scalar);
  return out;
}

class BinaryBackward : public autograd::Node {
 public:
  BinaryBackward(BinaryOp op, const Tensor& a, const Tensor& b) : op_(op), a_shape_(a.sizes()), b_shape_(b.sizes()) {
    if (op == BinaryOp::Mul || op == BinaryOp::Div) {
      a_ = save(a);
      b_ = save(b);
    }
  }
  std::string name() const override { return std::string(op_name(op_)) + "Backward"; }
  void release_saved() override {
    a_ = Tensor();
    b_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override {
    const Tensor& g = grads[0];
    if (op_ == BinaryOp::Mul || op_ == BinaryOp::Div) check_not_released();
    Tensor ga, gb;
    switch (op_) {
      case BinaryOp::Add: ga = g; gb = g; break;
      case BinaryOp::Sub: ga = g; gb = neg(g); break;
      case BinaryOp::Mul:
        if (needs_input_grad(0)) ga = mul(g, b_);
        if (needs_input_grad(1)) gb = mul(g, a_);
        break;
      case BinaryOp::Div:
        if (needs_input_grad(0)) ga = div(g, b_);
        if (needs_input_grad(1)) gb = neg(div(mul(g, a_), mul(b_, b_)));
        break;
      default: EMBER_FAIL("unexpected op in BinaryBackward");
    }
    return {needs_input_grad(0) ? sum_to(ga, a_shape_) : Tensor(), needs_input_grad(1) ? sum_to(gb, b_shape_) : Tensor()};
  }

 private:
  BinaryOp op_;
  Shape a_shape_, b_shape_;
  Tensor a_, b_;
};

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(op, a, b);
  if (!autograd::any_requires_grad({a, b})) return out;
  return autograd::record(std::make_shared<BinaryBackward>(op, a, b), {a, b}, out);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }

Tensor eq(const Tensor& a, const Tensor& b) {
  ops::check_same_device_dtype("eq", {{"self", &a}, {"other", &b}});
  Shape shape = broadcast_shapes(a.sizes(), b.sizes(), "eq");
  Tensor out = empty(shape, TensorOptions(kUInt8).with_device(a.device()));
  EMBER_KERNEL(a.device(), binary, BinaryOp::Eq, ops::broadcast_view(a, shape, "eq"), ops::broadcast_view(b, shape, "eq"), out,
               0.0);
  return out;
}

Tensor Tensor::add_(const Tensor& other, double alpha) {
  ops::check_same_device_dtype("add_", {{"self", this}, {"other", &other}});
  ops::check_floating("add_", *this);
  Tensor broadcast_other = ops::broadcast_view(other, sizes(), "add_");
  check_no_partial_overlap(*this, other, "add_");
  detail::begin_inplace_write(*this, "add_");
  EMBER_KERNEL(device(), axpy, broadcast_other, *this, alpha);
  return *this;
}

namespace {
// t = op(t, value) in place: add_, mul_ and div_ by a scalar.
Tensor scalar_inplace(Tensor& t, kernels::UnaryOp op, const char* name, double value) {
  ops::check_floating(name, t);
  detail::begin_inplace_write(t, name);
  EMBER_KERNEL(t.device(), unary, op, t, t, value);
  return t;
}
}  // namespace

Tensor Tensor::add_(double value) { return scalar_inplace(*this, kernels::UnaryOp::AddScalar, "add_", value); }
Tensor Tensor::mul_(double value) { return scalar_inplace(*this, kernels::UnaryOp::MulScalar, "mul_", value); }
Tensor Tensor::div_(double value) { return scalar_inplace(*this, kernels::UnaryOp::DivScalar, "div_", value); }

}  // namespace ember
