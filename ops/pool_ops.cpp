// max_pool2d: y[n,c,p,q] = max over the window at (p*sh - ph, q*sw - pw) of size (kh, kw);
// padding counts as -infinity. Forward saves the argmax of each window; backward sends each
// output's gradient to that one input (summing where overlapping windows share a maximum).
#include <ember/kernels/dispatch.h>
#include <ember/kernels/pool.h>
#include <ember/kernels/fused.h>
#include <ember/ops/max_pool_backward.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace ops {

TensorList MaxPool2dBackward::apply(TensorList&& grads) {
  check_not_released();
  Tensor g = grads[0].contiguous();
  if (out_.defined() && needs_input_grad(1) && !params_.windows_overlap()) {
    // The fused pool + bias + relu (its windows never overlap): both gradients in one kernel.
    // grad_x is computed even when only the bias wants a gradient (rare: a frozen input).
    Tensor grad_x = empty_as(g, input_shape_), grad_bias = empty_as(g, {g.size(1)});
    EMBER_KERNEL(g.device(), max_pool2d_backward_with_bias, g, indices_, grad_x, grad_bias, params_);
    return {needs_input_grad(0) ? grad_x : Tensor(), grad_bias};
  }
  Tensor grad_x;
  if (needs_input_grad(0)) {
    grad_x = empty_as(g, input_shape_);
    EMBER_KERNEL(g.device(), max_pool2d_backward, g, indices_, grad_x, params_);
  }
  if (!out_.defined()) return {grad_x};  // released nodes stopped at check_not_released
  Tensor grad_bias;
  if (needs_input_grad(1)) {
    // out > 0 exactly where the index survived the relu: the bias sum of bias_relu's backward.
    grad_bias = empty_as(g, {g.size(1)});
    EMBER_KERNEL(g.device(), bias_relu_backward, g, out_, Tensor(), grad_bias);
  }
  return {grad_x, grad_bias};
}

}  // namespace ops

Tensor max_pool2d(const Tensor& x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding) {
  EMBER_CHECK(x.defined(), "max_pool2d: input is undefined");
  ops::check_floating("max_pool2d", x);
  ops::check_dim("max_pool2d", x, 4, "(N, C, H, W) as input");
  kernels::PoolParams params;
  params.kernel = kernel;
  for (int i = 0; i < 2; ++i) {
    params.stride[i] = stride[i] == 0 ? kernel[i] : stride[i];
    params.padding[i] = padding[i];
    EMBER_CHECK(kernel[i] >= 1 && params.stride[i] >= 1, "max_pool2d: kernel and stride must be >= 1, got kernel (",
                kernel[0], ", ", kernel[1], "), stride (", stride[0], ", ", stride[1], ")");
    // Every window must hold at least one real input (as in PyTorch).
    EMBER_CHECK(padding[i] >= 0 && 2 * padding[i] <= kernel[i], "max_pool2d: padding must be in [0, kernel/2], got padding (",
                padding[0], ", ", padding[1], ") for kernel (", kernel[0], ", ", kernel[1], ")");
  }
  const int64_t P = (x.size(2) + 2 * params.padding[0] - kernel[0]) / params.stride[0] + 1;
  const int64_t Q = (x.size(3) + 2 * params.padding[1] - kernel[1]) / params.stride[1] + 1;
  EMBER_CHECK(x.size(2) + 2 * params.padding[0] >= kernel[0] && x.size(3) + 2 * params.padding[1] >= kernel[1],
              "max_pool2d: kernel (", kernel[0], ", ", kernel[1], ") is larger than the padded input ", x.str());
  Tensor xc = x.contiguous();
  Shape out_shape{x.size(0), x.size(1), P, Q};
  Tensor out = ops::empty_as(x, out_shape);
  Tensor indices = empty(out_shape, TensorOptions(kInt64).with_device(x.device()));
  if (out.numel() > 0) EMBER_KERNEL(x.device(), max_pool2d_forward, xc, out, indices, params);
  if (!autograd::any_requires_grad({x})) return out;
  return autograd::record(std::make_shared<ops::MaxPool2dBackward>("MaxPool2dBackward", indices, x.sizes(), params),
                          {x}, out);
}

}  // namespace ember
