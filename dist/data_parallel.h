// DataParallel: one process drives several devices (all visible GPUs by default). The module is
// replicated per device, each batch is split along dim 0, a thread per device runs forward, loss
// and backward on its slice, the gradients are summed across devices (NCCL, one communicator per
// GPU, when Ember has it; through the host otherwise) and land in the main module, which takes
// one optimizer step; the replicas then copy its parameters. Each slice's loss is weighted by its
// share of the batch, so a step equals single-device training on the same global batch.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include <ember/core/tensor.h>
#include <ember/nn/module.h>

namespace ember::dist {

// Sums lists of gradients that live on different devices, in place: afterwards every list holds
// the elementwise sum (grads[d][i] for device d, parameter i).
class LocalGradReducer {
 public:
  virtual ~LocalGradReducer() = default;
  virtual void sum(const std::vector<TensorList>& grads) = 0;
};

class DataParallel {
 public:
  using ModuleFactory = std::function<std::shared_ptr<nn::Module>()>;
  // (output, target) -> scalar loss, a mean over the slice.
  using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;

  // `module` lives on devices[0] (it is moved there); `make_replica` builds a module of the same
  // architecture for each further device. devices: empty = every visible GPU (or the CPU alone).
  DataParallel(std::shared_ptr<nn::Module> module, ModuleFactory make_replica, std::vector<Device> devices = {});
  ~DataParallel();

  // Forward + loss + backward on every device at once; leaves the summed gradient in module()'s
  // parameters and returns the loss of the whole batch.
  double train_step(const Tensor& input, const Tensor& target, const LossFn& loss);
  // Copies module()'s parameters and buffers to the replicas: call after optimizer.step().
  void sync_replicas();
  // Evaluation runs on the main module only.
  Tensor forward(const Tensor& input) { return module_->forward(input.to(devices_.front())); }

  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const std::vector<Device>& devices() const { return devices_; }

 private:
  std::shared_ptr<nn::Module> module_;
  std::vector<std::shared_ptr<nn::Module>> replicas_;  // replicas_[0] == module_
  std::vector<Device> devices_;
  std::unique_ptr<LocalGradReducer> reducer_;
};

namespace detail {
// Sums through host memory (any devices).
std::unique_ptr<LocalGradReducer> make_host_grad_reducer();
// One NCCL communicator per GPU (ncclCommInitAll), all-reduces grouped with ncclGroupStart/End.
// Defined in dist/nccl when Ember has NCCL.
std::unique_ptr<LocalGradReducer> make_nccl_grad_reducer(const std::vector<int>& gpus);
}  // namespace detail

}  // namespace ember::dist
