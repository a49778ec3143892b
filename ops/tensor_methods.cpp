// Tensor's method forms of the op library (x.exp() for exp(x)), for code written against
// libtorch; each forwards to the function in ops/ops.h.
#include <ember/ops/ops.h>

namespace ember {

Tensor Tensor::exp() const { return ember::exp(*this); }
Tensor Tensor::log() const { return ember::log(*this); }
Tensor Tensor::pow(double exponent) const { return ember::pow(*this, exponent); }
Tensor Tensor::relu() const { return ember::relu(*this); }
Tensor Tensor::abs() const { return ember::abs(*this); }
Tensor Tensor::clamp(double min, double max) const { return ember::clamp(*this, min, max); }
Tensor Tensor::matmul(const Tensor& other) const { return ember::matmul(*this, other); }
Tensor Tensor::argmax(int64_t dim, bool keepdim) const { return ember::argmax(*this, dim, keepdim); }

Tensor Tensor::squeeze() const {
  Tensor out = *this;
  for (int64_t d = dim() - 1; d >= 0; --d) out = out.squeeze(d);
  return out;
}

}  // namespace ember
