// StepLR: lr = base_lr * gamma^(epoch / step_size) (integer division), like torch's StepLR. base_lr
// is the optimizer's initial_lr (set to its lr of the moment if no scheduler set it before, as
// PyTorch's param_group.setdefault("initial_lr", lr)): a StepLR made after loading a checkpoint
// starts from the lr the run started with, not from the restored (decayed) one.
#pragma once
#include <cstdint>

#include <ember/optim/optimizer.h>

namespace ember::optim {

class StepLR {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  // Call once per epoch, after the epoch's optimizer steps.
  void step();
  int64_t last_epoch() const { return epoch_; }
  double get_last_lr() const { return optimizer_.lr(); }
  double base_lr() const { return base_lr_; }
  // Restores the schedule at `epoch` (e.g. after loading a checkpoint) and sets the lr to match.
  void set_epoch(int64_t epoch);

 private:
  Optimizer& optimizer_;
  int64_t step_size_;
  double gamma_;
  double base_lr_;
  int64_t epoch_ = 0;
};

}  // namespace ember::optim
