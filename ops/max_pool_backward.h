// The backward node of max_pool2d, shared with the fused max_pool2d_relu (whose indices are -1
// where relu cut the gradient). Private to ops/.
#pragma once
#include <memory>
#include <string>

#include <ember/autograd/node.h>
#include <ember/kernels/pool.h>

namespace ember::ops {

// grad_x = scatter of grad_out to the saved argmax indices (kernels/pool.h max_pool2d_backward).
// With a bias (max_pool2d_relu's second input, saved output given): also
// grad_bias[c] = sum of grad_out over the outputs the relu let through (out > 0), in the same
// kernel as grad_x (kernels/pool.h max_pool2d_backward_with_bias: out > 0 is index >= 0).
class MaxPool2dBackward : public autograd::Node {
 public:
  MaxPool2dBackward(std::string name, const Tensor& indices, Shape input_shape, const kernels::PoolParams& params,
                    const Tensor& out_for_bias = Tensor())
      : name_(std::move(name)), indices_(save(indices)), input_shape_(std::move(input_shape)), params_(params),
        out_(save(out_for_bias)) {}
  std::string name() const override { return name_; }
  void release_saved() override {
    indices_ = Tensor();
    out_ = Tensor();
  }
  TensorList apply(TensorList&& grads) override;

 private:
  std::string name_;
  Tensor indices_;
  Shape input_shape_;
  kernels::PoolParams params_;
  Tensor out_;  // the pooled output, kept for the bias gradient only (undefined: no bias input)
};

}  // namespace ember::ops
