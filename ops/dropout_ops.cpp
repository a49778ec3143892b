// dropout(x, p, training): while training, zero each element with probability p and scale the
// rest by 1/(1-p); the keep mask comes from the default Philox generator (kernels/dropout.h).
//   d dropout = g * mask / (1 - p)   (the node keeps the uint8 mask, not the input)
#include <ember/core/random.h>
#include <ember/kernels/dispatch.h>
#include <ember/kernels/dropout.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

class DropoutBackward : public autograd::Node {
 public:
  DropoutBackward(const Tensor& mask, double scale) : mask_(save(mask)), scale_(scale) {}
  std::string name() const override { return "DropoutBackward"; }
  void release_saved() override { mask_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    Tensor g = grads[0].contiguous();
    Tensor grad_in = ops::empty_as(g, mask_.sizes());
    if (grad_in.numel() > 0) EMBER_KERNEL(g.device(), dropout_backward, g, mask_, grad_in, scale_);
    return {grad_in};
  }

 private:
  Tensor mask_;
  double scale_;
};

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training) {
  EMBER_CHECK(x.defined(), "dropout: argument 'input' is undefined");
  EMBER_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  ops::check_floating("dropout", x);
  if (!training || p == 0.0) return x;
  int64_t n = x.numel();
  // p == 1 drops everything; the scale is then irrelevant and must not be inf (0 * inf = NaN).
  double scale = p >= 1.0 ? 0.0 : 1.0 / (1.0 - p);
  Generator& gen = default_generator();
  uint64_t offset = gen.reserve(static_cast<uint64_t>((n + 3) / 4));
  uint64_t seed = gen.seed();
  Tensor out = ops::empty_as(x, x.sizes());
  Tensor mask = empty(x.sizes(), TensorOptions(kUInt8).with_device(x.device()));
  if (n > 0) EMBER_KERNEL(x.device(), dropout_forward, x.detach().contiguous(), out, mask, p, scale, seed, offset);
  if (!autograd::any_requires_grad({x})) return out;
  return autograd::record(std::make_shared<DropoutBackward>(mask, scale), {x}, out);
}

}  // namespace ember
