// Elementwise kernels: unary maps y = f(x), binary maps z = f(x, y) with broadcasting, and the
// pointwise backward formulas of the activations. The math of each op is in elementwise_math.h,
// shared by the CPU reference and the CUDA kernels so that both compute the same formula.
#pragma once
#include <ember/core/tensor.h>

namespace ember::kernels {

enum class UnaryOp { Neg, Exp, Log, Sqrt, Relu, Sigmoid, Tanh, Pow, AddScalar, MulScalar, DivScalar, Abs, ClampMin, ClampMax };
enum class BinaryOp {
  Add, Sub, Mul, Div,
  ReluBackward,     // (grad, x)  -> grad * (x > 0)
  SigmoidBackward,  // (grad, y)  -> grad * y * (1 - y)
  TanhBackward,     // (grad, y)  -> grad * (1 - y^2)
  PowBackward,      // (grad, x)  -> grad * s * x^(s-1)
  AbsBackward,      // (grad, x)  -> grad * sign(x)
  ClampMinBackward, // (grad, x)  -> grad * (x >= s)
  ClampMaxBackward, // (grad, x)  -> grad * (x <= s)
  Eq,               // (x, y)     -> x == y  (output uint8)
};

#define EMBER_ELEMENTWISE_KERNELS                                                                \
  /* out = f(in; scalar). in and out have the same shape and dtype; any strides. */             \
  void unary(UnaryOp op, const Tensor& in, const Tensor& out, double scalar);                   \
  /* out = f(a, b; scalar). a and b are already broadcast (stride 0) to out's shape. */         \
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double scalar); \
  /* out += alpha * in, in place (the gradient accumulation and optimizer building block). */   \
  void axpy(const Tensor& in, const Tensor& out, double alpha);
namespace cpu { EMBER_ELEMENTWISE_KERNELS }
namespace cuda { EMBER_ELEMENTWISE_KERNELS }
#undef EMBER_ELEMENTWISE_KERNELS

}  // namespace ember::kernels
