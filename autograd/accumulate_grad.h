// AccumulateGrad: the sink node of a leaf. It sums the incoming gradient into leaf.grad (in place
// when a gradient already exists, so a grad that is a view into a DDP bucket stays one), then runs
// the leaf's grad hooks, which is where DistributedDataParallel launches its all-reduces.
#pragma once
#include <ember/autograd/node.h>

namespace ember::autograd {

class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  TensorList apply(TensorList&& grad_outputs) override;
  std::string name() const override { return "AccumulateGrad"; }
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

}  // namespace ember::autograd
