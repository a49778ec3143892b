// The pointwise formulas behind kernels/elementwise.h, one functor per op, for host and device.
#pragma once
#include <cmath>

#include <ember/kernels/elementwise.h>
#include <ember/kernels/philox.h>

namespace ember::kernels::math {

template <typename T> struct Neg { T s; EMBER_HOST_DEVICE T operator()(T x) const { return -x; } };
template <typename T> struct Exp { T s; EMBER_HOST_DEVICE T operator()(T x) const { return std::exp(x); } };
template <typename T> struct Log { T s; EMBER_HOST_DEVICE T operator()(T x) const { return std::log(x); } };
template <typename T> struct Sqrt { T s; EMBER_HOST_DEVICE T operator()(T x) const { return std::sqrt(x); } };
// relu and its gradient let NaN through, as PyTorch does: a diverged model must not train on as if finite.
template <typename T> struct Relu { T s; EMBER_HOST_DEVICE T operator()(T x) const { return x < T(0) ? T(0) : x; } };
// sigmoid(x) = 1 / (1 + e^-x), evaluated on the side that cannot overflow.
template <typename T> struct Sigmoid {
  T s;
  EMBER_HOST_DEVICE T operator()(T x) const {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    T e = std::exp(x);
    return e / (T(1) + e);
  }
};
template <typename T> struct Tanh { T s; EMBER_HOST_DEVICE T operator()(T x) const { return std::tanh(x); } };
template <typename T> struct Pow { T s; EMBER_HOST_DEVICE T operator()(T x) const { return std::pow(x, s); } };
template <typename T> struct AddScalar { T s; EMBER_HOST_DEVICE T operator()(T x) const { return x + s; } };
template <typename T> struct MulScalar { T s; EMBER_HOST_DEVICE T operator()(T x) const { return x * s; } };
// NaN stays NaN through abs and both clamps, as in PyTorch (x < s is false for a NaN x); fabs clears
// the sign bit, so abs(-0) is +0.
template <typename T> struct Abs { T s; EMBER_HOST_DEVICE T operator()(T x) const { return std::fabs(x); } };
template <typename T> struct ClampMin { T s; EMBER_HOST_DEVICE T operator()(T x) const { return x < s ? s : x; } };
template <typename T> struct ClampMax { T s; EMBER_HOST_DEVICE T operator()(T x) const { return x > s ? s : x; } };
// x / s, not x * (1 / s): the reciprocal's rounding would be 1 ulp off a third of the time.
template <typename T> struct DivScalar { T s; EMBER_HOST_DEVICE T operator()(T x) const { return x / s; } };

template <typename T> struct Add { T s; EMBER_HOST_DEVICE T operator()(T a, T b) const { return a + b; } };
template <typename T> struct Sub { T s; EMBER_HOST_DEVICE T operator()(T a, T b) const { return a - b; } };
template <typename T> struct Mul { T s; EMBER_HOST_DEVICE T operator()(T a, T b) const { return a * b; } };
template <typename T> struct Div { T s; EMBER_HOST_DEVICE T operator()(T a, T b) const { return a / b; } };
template <typename T> struct ReluBackward { T s; EMBER_HOST_DEVICE T operator()(T g, T x) const { return x <= T(0) ? T(0) : g; } };
template <typename T> struct SigmoidBackward { T s; EMBER_HOST_DEVICE T operator()(T g, T y) const { return g * y * (T(1) - y); } };
template <typename T> struct TanhBackward { T s; EMBER_HOST_DEVICE T operator()(T g, T y) const { return g * (T(1) - y * y); } };
// d|x| = sign(x) g, 0 at x = 0 (PyTorch's subgradient); a clamp passes g where x is inside its bound,
// the bound itself included (PyTorch's choice at the kink).
template <typename T> struct AbsBackward { T s; EMBER_HOST_DEVICE T operator()(T g, T x) const { return x > T(0) ? g : x < T(0) ? -g : T(0); } };
template <typename T> struct ClampMinBackward { T s; EMBER_HOST_DEVICE T operator()(T g, T x) const { return x >= s ? g : T(0); } };
template <typename T> struct ClampMaxBackward { T s; EMBER_HOST_DEVICE T operator()(T g, T x) const { return x <= s ? g : T(0); } };
// d x^s = s x^(s-1), and 0 for s = 0 (x^0 is constant; s x^-1 would be 0 * inf at x = 0), as PyTorch.
template <typename T> struct PowBackward { T s; EMBER_HOST_DEVICE T operator()(T g, T x) const { return s == T(0) ? T(0) : g * s * std::pow(x, s - T(1)); } };

// Calls f(functor) with the functor of `op` for element type T.
template <typename T, typename F>
void visit_unary(UnaryOp op, T s, F&& f) {
  switch (op) {
    case UnaryOp::Neg: return f(Neg<T>{s});
    case UnaryOp::Exp: return f(Exp<T>{s});
    case UnaryOp::Log: return f(Log<T>{s});
    case UnaryOp::Sqrt: return f(Sqrt<T>{s});
    case UnaryOp::Relu: return f(Relu<T>{s});
    case UnaryOp::Sigmoid: return f(Sigmoid<T>{s});
    case UnaryOp::Tanh: return f(Tanh<T>{s});
    case UnaryOp::Abs: return f(Abs<T>{s});
    case UnaryOp::ClampMin: return f(ClampMin<T>{s});
    case UnaryOp::ClampMax: return f(ClampMax<T>{s});
    case UnaryOp::Pow: return f(Pow<T>{s});
    case UnaryOp::AddScalar: return f(AddScalar<T>{s});
    case UnaryOp::MulScalar: return f(MulScalar<T>{s});
    case UnaryOp::DivScalar: return f(DivScalar<T>{s});
  }
}

// Eq is handled apart (its output dtype differs); every other binary op maps T x T -> T.
template <typename T, typename F>
void visit_binary(BinaryOp op, T s, F&& f) {
  switch (op) {
    case BinaryOp::Add: return f(Add<T>{s});
    case BinaryOp::Sub: return f(Sub<T>{s});
    case BinaryOp::Mul: return f(Mul<T>{s});
    case BinaryOp::Div: return f(Div<T>{s});
    case BinaryOp::ReluBackward: return f(ReluBackward<T>{s});
    case BinaryOp::SigmoidBackward: return f(SigmoidBackward<T>{s});
    case BinaryOp::TanhBackward: return f(TanhBackward<T>{s});
    case BinaryOp::PowBackward: return f(PowBackward<T>{s});
    case BinaryOp::AbsBackward: return f(AbsBackward<T>{s});
    case BinaryOp::ClampMinBackward: return f(ClampMinBackward<T>{s});
    case BinaryOp::ClampMaxBackward: return f(ClampMaxBackward<T>{s});
    case BinaryOp::Eq: break;
  }
}

}  // namespace ember::kernels::math
