// nll_loss and cross_entropy over (N, C) inputs and int64 class targets (N).
//   nll:            loss[n] = -lp[n, t[n]]                 d lp[n, c] = -[c == t[n]] * g[n]
//   cross_entropy:  loss[n] = lse(x[n]) - x[n, t[n]]       d x[n, c]  = (softmax(x[n])[c] - [c == t[n]]) * g[n]
// with g[n] = g / N for the mean, g for the sum. cross_entropy is one fused kernel pair (it saves
// the per-row log-sum-exp less the row max, kernels/softmax.h), not log_softmax followed by
// nll_loss; with mean or sum the forward kernel also reduces the losses.
#include <ember/autograd/grad_mode.h>
#include <ember/kernels/dispatch.h>
#include <ember/kernels/softmax.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

// Shapes, dtypes and devices; on the CPU also every class index (a CUDA target is not read back,
// see kernels/softmax.h for what an out-of-range index does there).
void check_loss_inputs(const char* op, const Tensor& input, const Tensor& target) {
  EMBER_CHECK(input.defined() && target.defined(), op, ": input and target must be defined");
  ops::check_floating(op, input);
  ops::check_dim(op, input, 2, "(N, C)");
  EMBER_CHECK(target.dtype() == kInt64, op, ": expected an int64 target of class indices, got ", target.str());
  EMBER_CHECK(target.dim() == 1 && target.size(0) == input.size(0), op, ": expected a target of shape (",
              input.size(0), ") for input ", input.str(), ", got ", target.str());
  EMBER_CHECK(target.device() == input.device(), op, ": expected input and target on one device, got ",
              ops::describe({{"input", &input}, {"target", &target}}));
  if (target.is_cpu()) {
    std::vector<int64_t> classes = target.to_vector<int64_t>();
    int64_t num_classes = input.size(1);
    for (size_t n = 0; n < classes.size(); ++n)
      EMBER_CHECK(classes[n] >= 0 && classes[n] < num_classes, op, ": target[", n, "] = ", classes[n],
                  " is out of range for ", num_classes, " classes (input ", input.str(), ")");
  }
}

Tensor reduce_losses(const Tensor& losses, Reduction reduction) {
  NoGradGuard no_grad;
  switch (reduction) {
    case Reduction::None: return losses;
    case Reduction::Mean: return mean(losses);
    case Reduction::Sum: return sum(losses);
  }
  return losses;
}

// The incoming gradient as (contiguous tensor, stride per row, scale): a scalar for Mean/Sum
// (stride 0, so every row reads the same value), one value per row for None.
struct RowGrad {
  Tensor grad;
  int64_t stride;
  double scale;
};
RowGrad row_grad(const Tensor& g, Reduction reduction, int64_t rows) {
  RowGrad r{g.contiguous(), reduction == Reduction::None ? 1 : 0, 1.0};
  if (reduction == Reduction::Mean && rows > 0) r.scale = 1.0 / static_cast<double>(rows);
  return r;
}

class CrossEntropyBackward : public autograd::Node {
 public:
  CrossEntropyBackward(const Tensor& logits, const Tensor& target, const Tensor& lse, Reduction reduction)
      : logits_(save(logits)), target_(save(target)), lse_(save(lse)), reduction_(reduction) {}
  std::string name() const override { return "CrossEntropyBackward"; }
  void release_saved() override {
    logits_ = Tensor();
    target_ = Tensor();
    lse_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    RowGrad g = row_grad(grads[0], reduction_, logits_.size(0));
    Tensor grad_logits = ops::empty_as(logits_, logits_.sizes());
    if (grad_logits.numel() > 0)
      EMBER_KERNEL(logits_.device(), cross_entropy_backward, logits_, target_, lse_, g.grad, g.stride, g.scale,
                   grad_logits);
    return {grad_logits, Tensor()};
  }

 private:
  Tensor logits_, target_, lse_;
  Reduction reduction_;
};

class NllLossBackward : public autograd::Node {
 public:
  NllLossBackward(const Tensor& log_probs, const Tensor& target, Reduction reduction)
      : shape_(log_probs.sizes()), dtype_(log_probs.dtype()), device_(log_probs.device()), target_(save(target)),
        reduction_(reduction) {}
  std::string name() const override { return "NllLossBackward"; }
  void release_saved() override { target_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    RowGrad g = row_grad(grads[0], reduction_, shape_[0]);
    Tensor grad_in = empty(shape_, TensorOptions(dtype_).with_device(device_));
    if (grad_in.numel() > 0) EMBER_KERNEL(device_, nll_backward, target_, g.grad, g.stride, g.scale, grad_in);
    return {grad_in, Tensor()};
  }

 private:
  Shape shape_;
  DType dtype_;
  Device device_;
  Tensor target_;
  Reduction reduction_;
};

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  check_loss_inputs("cross_entropy", logits, target);
  Tensor x = logits.detach().contiguous(), t = target.contiguous();
  int64_t n = x.size(0);
  Tensor lse = ops::empty_as(x, {n}), out;
  if (reduction != Reduction::None && x.numel() > 0) {
    // The row losses reduced inside the kernel (one launch on CUDA, no per-row losses kept).
    out = ops::empty_as(x, {});
    EMBER_KERNEL(x.device(), cross_entropy_forward_reduced, x, t, out, lse, reduction == Reduction::Mean);
  } else {
    Tensor losses = ops::empty_as(x, {n});
    if (x.numel() > 0) EMBER_KERNEL(x.device(), cross_entropy_forward, x, t, losses, lse);
    out = reduce_losses(losses, reduction);
  }
  if (!autograd::any_requires_grad({logits})) return out;
  return autograd::record(std::make_shared<CrossEntropyBackward>(x, t, lse, reduction), {logits, target}, out);
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction) {
  check_loss_inputs("nll_loss", log_probs, target);
  Tensor lp = log_probs.detach().contiguous(), t = target.contiguous();
  Tensor losses = ops::empty_as(lp, {lp.size(0)});
  if (lp.numel() > 0) EMBER_KERNEL(lp.device(), nll_forward, lp, t, losses);
  Tensor out = reduce_losses(losses, reduction);
  if (!autograd::any_requires_grad({log_probs})) return out;
  return autograd::record(std::make_shared<NllLossBackward>(lp, t, reduction), {log_probs, target}, out);
}

}  // namespace ember
