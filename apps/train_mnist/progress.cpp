#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace train_mnist {

Progress::Progress(int epoch, int epochs, int64_t steps, int64_t batch_size, int log_interval, bool enabled)
    : epoch_(epoch), epochs_(epochs), steps_(steps), batch_size_(batch_size), log_interval_(std::max(1, log_interval)),
      enabled_(enabled), tty_(isatty(STDOUT_FILENO) == 1), start_(std::chrono::steady_clock::now()), last_draw_() {}

bool Progress::due_for_redraw(int64_t step) {
  // Redraw at most ten times a second (reading the loss from a GPU costs a synchronisation).
  auto now = std::chrono::steady_clock::now();
  if (step != steps_ && now - last_draw_ < std::chrono::milliseconds(100)) return false;
  last_draw_ = now;
  return true;
}

void Progress::print(int64_t step, double loss) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? step * batch_size_ / elapsed : 0.0;
  double eta = step > 0 ? elapsed * (steps_ - step) / step : 0.0;
  if (tty_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(kWidth * step / std::max<int64_t>(steps_, 1));
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::printf("\repoch %d/%d [%s] %lld/%lld loss %.4f %.0f samples/s ETA %.1fs ", epoch_, epochs_, bar.c_str(),
                static_cast<long long>(step), static_cast<long long>(steps_), loss, rate, eta);
  } else {
    std::printf("epoch %d/%d step %lld/%lld loss %.4f %.0f samples/s ETA %.1fs\n", epoch_, epochs_,
                static_cast<long long>(step), static_cast<long long>(steps_), loss, rate, eta);
  }
  std::fflush(stdout);
}

void Progress::finish() {
  if (enabled_ && tty_) std::printf("\n");
}

}  // namespace train_mnist
