// Fused ops, each one kernel where the unfused composition would run several:
//   bias_relu(x, b) = relu(x + b[c])    backward: gx = g * (y > 0), gb[c] = sum of gx over all but dim 1
//   max_pool2d_relu(x, k) = relu(max_pool2d(x, k))   backward: the pool scatter, skipping outputs
//   that relu clamped (their saved index is -1), so no relu mask is kept separately.
//   max_pool2d_relu(x, k, b) = relu(max_pool2d(x, k) + b[c]) = relu(max_pool2d(x + b[c], k)), as
//   the bias is constant over a window: a convolution's bias folded into the pool (no pass over
//   the convolution's output to add it);  gb[c] = sum of g where the output is > 0.
// linear_relu (GEMM + bias + relu, its backward reusing bias_relu_backward) lives in
// ops/linear_ops.cpp, next to linear, whose checks it shares.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/fused.h>
#include <ember/ops/max_pool_backward.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

class BiasReluBackward : public autograd::Node {
 public:
  explicit BiasReluBackward(const Tensor& out) : out_(save(out)) {}
  std::string name() const override { return "BiasReluBackward"; }
  void release_saved() override { out_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    Tensor g = grads[0].contiguous();
    Tensor grad_x = needs_input_grad(0) ? ops::empty_as(out_, out_.sizes()) : Tensor();
    Tensor grad_bias = needs_input_grad(1) ? ops::empty_as(out_, {out_.size(1)}) : Tensor();
    EMBER_KERNEL(g.device(), bias_relu_backward, g, out_, grad_x, grad_bias);
    return {grad_x, grad_bias};
  }

 private:
  Tensor out_;
};

}  // namespace

Tensor bias_relu(const Tensor& x, const Tensor& bias) {
  ops::check_same_device_dtype("bias_relu", {{"input", &x}, {"bias", &bias}});
  ops::check_floating("bias_relu", x);
  EMBER_CHECK(x.dim() >= 2, "bias_relu: expected an input with a channel dim 1, (N, C, ...), got ", x.str());
  EMBER_CHECK(bias.dim() == 1 && bias.size(0) == x.size(1), "bias_relu: expected bias of shape [", x.size(1),
              "] for input ", x.str(), ", got ", bias.str());
  Tensor out = ops::empty_as(x, x.sizes());
  if (out.numel() > 0) EMBER_KERNEL(x.device(), bias_relu_forward, x.contiguous(), bias.contiguous(), out);
  if (!autograd::any_requires_grad({x, bias})) return out;
  return autograd::record(std::make_shared<BiasReluBackward>(out), {x, bias}, out);
}

Tensor max_pool2d_relu(const Tensor& x, std::array<int64_t, 2> kernel, const Tensor& bias) {
  EMBER_CHECK(x.defined(), "max_pool2d_relu: input is undefined");
  ops::check_floating("max_pool2d_relu", x);
  ops::check_dim("max_pool2d_relu", x, 4, "(N, C, H, W) as input");
  if (bias.defined()) {
    ops::check_same_device_dtype("max_pool2d_relu", {{"input", &x}, {"bias", &bias}});
    EMBER_CHECK(bias.dim() == 1 && bias.size(0) == x.size(1), "max_pool2d_relu: expected bias of shape [", x.size(1),
                "] for input ", x.str(), ", got ", bias.str());
  }
  EMBER_CHECK(kernel[0] >= 1 && kernel[1] >= 1 && x.size(2) >= kernel[0] && x.size(3) >= kernel[1],
              "max_pool2d_relu: kernel (", kernel[0], ", ", kernel[1], ") must be >= 1 and fit in the input ", x.str());
  kernels::PoolParams params;
  params.kernel = kernel;
  params.stride = kernel;
  Shape out_shape{x.size(0), x.size(1), x.size(2) / kernel[0], x.size(3) / kernel[1]};
  Tensor out = ops::empty_as(x, out_shape);
  Tensor indices = empty(out_shape, TensorOptions(kInt64).with_device(x.device()));
  if (out.numel() > 0)
    EMBER_KERNEL(x.device(), max_pool2d_relu_forward, x.contiguous(), bias.defined() ? bias.contiguous() : Tensor(),
                 out, indices, params);
  if (!bias.defined()) {
    if (!autograd::any_requires_grad({x})) return out;
    return autograd::record(
        std::make_shared<ops::MaxPool2dBackward>("MaxPool2dReluBackward", indices, x.sizes(), params), {x}, out);
  }
  if (!autograd::any_requires_grad({x, bias})) return out;
  return autograd::record(
      std::make_shared<ops::MaxPool2dBackward>("MaxPool2dBiasReluBackward", indices, x.sizes(), params, out),
      {x, bias}, out);
}

}  // namespace ember
