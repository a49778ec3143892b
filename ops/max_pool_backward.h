// The backward node of max_pool2d, shared with the fused max_pool2d_relu (whose indices are -1
// where relu cut the gradient). Private to ops/.
#pragma once
#include <memory>
#include <string>

#include <ember/autograd/node.h>
#include <ember/kernels/pool.h>

namespace ember::ops {

// grad_x = scatter of grad_out to the saved argmax indices (kernels/pool.h max_pool2d_backward).
class MaxPool2dBackward : public autograd::Node {
 public:
  MaxPool2dBackward(std::string name, const Tensor& indices, Shape input_shape, const kernels::PoolParams& params)
      : name_(std::move(name)), indices_(indices.detach()), input_shape_(std::move(input_shape)), params_(params) {}
  std::string name() const override { return name_; }
  void release_saved() override { indices_ = Tensor(); }
  TensorList apply(TensorList&& grads) override;

 private:
  std::string name_;
  Tensor indices_;
  Shape input_shape_;
  kernels::PoolParams params_;
};

}  // namespace ember::ops
