// Training progress for people: a redrawn bar on a terminal, plain lines when output is a file.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace train_mnist {

class Progress {
 public:
  Progress(int epoch, int epochs, int64_t steps, int64_t batch_size, int log_interval, bool enabled);
  // Called after each step with a function that reads the sum of this epoch's batch losses so far
  // (from the device: only when something is printed). The loss printed is the mean over the steps
  // since the previous print, so no step has to keep its own loss for the log.
  template <typename LossSumFn>
  void step(int64_t step, LossSumFn&& read_loss_sum) {
    if (!enabled_) return;
    // Steps may advance several at a time (CUDA graph replays): a line is due when a multiple of
    // the interval was reached or passed.
    bool draw = tty_ ? due_for_redraw(step) : (step / log_interval_ > printed_step_ / log_interval_ || step == steps_);
    if (!draw) return;
    double loss_sum = read_loss_sum();
    print(step, (loss_sum - printed_loss_sum_) / static_cast<double>(step - printed_step_));
    printed_loss_sum_ = loss_sum;
    printed_step_ = step;
  }
  void finish();

 private:
  bool due_for_redraw(int64_t step);
  void print(int64_t step, double loss);

  int epoch_, epochs_;
  int64_t steps_, batch_size_;
  int log_interval_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  double printed_loss_sum_ = 0;  // the loss sum and step of the previous print
  int64_t printed_step_ = 0;
};

}  // namespace train_mnist
