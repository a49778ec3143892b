// conv2d: cross-correlation of x (N, C, H, W) with weight (K, C, R, S), plus bias (K).
//   y[n,k,p,q] = b[k] + sum_{c,r,s} x[n, c, p*sh - ph + r*dh, q*sw - pw + s*dw] * w[k,c,r,s]
// Backward: dx by the transposed convolution of g with w (backward-data), dw by correlating g with
// x (backward-filter), db by summing g over N, P, Q (kernels/conv.h).
#include <ember/kernels/conv.h>
#include <ember/kernels/dispatch.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>
#include <ember/ops/weight_grad_branch.h>

namespace ember {

namespace {

// The number of window positions, or 0 when the dilated kernel does not fit the padded input
// (C++ division rounds a negative span toward zero, which would count one position).
int64_t conv_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dil) {
  const int64_t span = in + 2 * pad - dil * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

class Conv2dBackward : public autograd::Node {
 public:
  Conv2dBackward(const Tensor& x, const Tensor& weight, const Conv2dParams& params)
      : x_(save(x)), weight_(save(weight)), params_(params) {}
  std::string name() const override { return "Conv2dBackward"; }
  void release_saved() override {
    x_ = Tensor();
    weight_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    Tensor g = grads[0].contiguous();
    TensorList out(next_edges().size());
    if (g.numel() == 0) {  // an empty batch: zero gradients (cuDNN refuses empty descriptors)
      if (needs_input_grad(0)) out[0] = zeros_like(x_);
      if (needs_input_grad(1)) out[1] = zeros_like(weight_);
      if (needs_input_grad(2)) out[2] = zeros({weight_.size(0)}, TensorOptions(weight_.dtype()).with_device(weight_.device()));
      return out;
    }
    ops::WeightGradBranch branch(g.device(), needs_input_grad(0) && (needs_input_grad(1) || needs_input_grad(2)));
    branch.run([&] {
      if (needs_input_grad(1)) {
        out[1] = ops::empty_as(weight_, weight_.sizes());
        EMBER_KERNEL(g.device(), conv2d_backward_filter, g, x_, out[1], params_);
      }
      if (needs_input_grad(2)) {
        out[2] = ops::empty_as(weight_, {weight_.size(0)});
        EMBER_KERNEL(g.device(), conv2d_backward_bias, g, out[2]);
      }
    });
    if (needs_input_grad(0)) {
      out[0] = ops::empty_as(x_, x_.sizes());
      EMBER_KERNEL(g.device(), conv2d_backward_data, g, weight_, out[0], params_);
    }
    branch.join();
    return out;
  }

 private:
  Tensor x_, weight_;  // contiguous
  Conv2dParams params_;
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params) {
  ops::check_same_device_dtype("conv2d", {{"input", &x}, {"weight", &weight}});
  if (bias.defined()) ops::check_same_device_dtype("conv2d", {{"input", &x}, {"bias", &bias}});
  ops::check_floating("conv2d", x);
  ops::check_dim("conv2d", x, 4, "(N, C, H, W) as input");
  ops::check_dim("conv2d", weight, 4, "(K, C, R, S) as weight");
  EMBER_CHECK(x.size(1) == weight.size(1), "conv2d: input has ", x.size(1), " channels but weight expects ",
              weight.size(1), ": ", ops::describe({{"input", &x}, {"weight", &weight}}));
  EMBER_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)),
              "conv2d: expected bias of shape [", weight.size(0), "], got ", bias.defined() ? bias.str() : "");
  for (int i = 0; i < 2; ++i) {
    EMBER_CHECK(params.stride[i] >= 1 && params.dilation[i] >= 1 && params.padding[i] >= 0,
                "conv2d: stride and dilation must be >= 1 and padding >= 0, got stride (", params.stride[0], ", ",
                params.stride[1], "), padding (", params.padding[0], ", ", params.padding[1], "), dilation (",
                params.dilation[0], ", ", params.dilation[1], ")");
  }
  const int64_t P = conv_out_size(x.size(2), weight.size(2), params.stride[0], params.padding[0], params.dilation[0]);
  const int64_t Q = conv_out_size(x.size(3), weight.size(3), params.stride[1], params.padding[1], params.dilation[1]);
  EMBER_CHECK(P >= 1 && Q >= 1, "conv2d: the (dilated) kernel ", shape_str(weight.sizes()),
              " is larger than the padded input ", shape_str(x.sizes()));
  Tensor xc = x.contiguous(), wc = weight.contiguous();
  Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor out = ops::empty_as(x, {x.size(0), weight.size(0), P, Q});
  if (out.numel() > 0) EMBER_KERNEL(x.device(), conv2d_forward, xc, wc, bc, out, params);
  TensorList inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (!autograd::any_requires_grad(inputs)) return out;
  return autograd::record(std::make_shared<Conv2dBackward>(xc, wc, params), inputs, out);
}

}  // namespace ember
