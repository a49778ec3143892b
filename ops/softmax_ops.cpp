// softmax and log_softmax along one dim, numerically stable (the row max is subtracted first).
//   d softmax:      gx = y * (g - sum_dim(g * y))
//   d log_softmax:  gx = g - exp(y) * sum_dim(g)
// Both backward formulas need only the output y, which is what the node saves.
#include <algorithm>

#include <ember/kernels/dispatch.h>
#include <ember/kernels/softmax.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

using kernels::ReduceGeometry;

// [outer, C, inner] around dim d of a tensor of shape `sizes` (a 0-d tensor is one row of one).
ReduceGeometry geometry_along(const Shape& sizes, int64_t d) {
  ReduceGeometry g;
  for (int64_t k = 0; k < static_cast<int64_t>(sizes.size()); ++k) (k < d ? g.outer : k == d ? g.reduce : g.inner) *= sizes[k];
  return g;
}

class SoftmaxBackward : public autograd::Node {
 public:
  SoftmaxBackward(const Tensor& out, ReduceGeometry geometry, bool log)
      : out_(save(out)), geometry_(geometry), log_(log) {}
  std::string name() const override { return log_ ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  void release_saved() override { out_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    Tensor g = grads[0].contiguous();
    Tensor grad_in = ops::empty_as(out_, out_.sizes());
    if (grad_in.numel() > 0) EMBER_KERNEL(out_.device(), softmax_backward, g, out_, grad_in, geometry_, log_);
    return {grad_in};
  }

 private:
  Tensor out_;
  ReduceGeometry geometry_;
  bool log_;
};

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  EMBER_CHECK(x.defined(), op, ": argument 'self' is undefined");
  ops::check_floating(op, x);
  int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);
  ReduceGeometry g = geometry_along(x.sizes(), d);
  Tensor out = ops::empty_as(x, x.sizes());
  if (out.numel() > 0) EMBER_KERNEL(x.device(), softmax_forward, x.detach().contiguous(), out, g, log);
  if (!autograd::any_requires_grad({x})) return out;
  return autograd::record(std::make_shared<SoftmaxBackward>(out, g, log), {x}, out);
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace ember
