// Training progress for people: a redrawn bar on a terminal, plain lines when output is a file.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace train_mnist {

class Progress {
 public:
  Progress(int epoch, int epochs, int64_t steps, int64_t batch_size, int log_interval, bool enabled);
  // Called after each step; `loss` is only read (from the device) when something is printed.
  template <typename LossFn>
  void step(int64_t step, LossFn&& read_loss) {
    if (!enabled_) return;
    bool draw = tty_ ? due_for_redraw(step) : (step % log_interval_ == 0 || step == steps_);
    if (draw) print(step, read_loss());
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
};

}  // namespace train_mnist
