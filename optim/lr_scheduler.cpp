#include <ember/optim/lr_scheduler.h>

#include <cmath>

#include <ember/core/error.h>

namespace ember::optim {

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : optimizer_(optimizer), step_size_(step_size), gamma_(gamma) {
  EMBER_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  if (!optimizer_.initial_lr()) optimizer_.set_initial_lr(optimizer_.lr());
  base_lr_ = *optimizer_.initial_lr();
}

void StepLR::step() { set_epoch(epoch_ + 1); }

void StepLR::set_epoch(int64_t epoch) {
  EMBER_CHECK(epoch >= 0, "StepLR: epoch must be >= 0, got ", epoch);
  epoch_ = epoch;
  optimizer_.set_lr(base_lr_ * std::pow(gamma_, static_cast<double>(epoch_ / step_size_)));
}

}  // namespace ember::optim
