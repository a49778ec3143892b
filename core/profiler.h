// ember::profiler: where the time of eager work goes, kernel by kernel (the table of PyTorch's
// torch.profiler key_averages(), for Ember's kernel families).
//
// While recording, every kernel-family call that ops make through EMBER_KERNEL (kernels/dispatch.h;
// the cuBLAS and cuDNN calls included) is timed under its entry-point name: on the CPU by the wall
// clock around the call, on a GPU by two CUDA events around the call's work on the current stream.
// The GPU figure is the work's own execution time, not the launch latency around it: before the
// start event the profiler queues a short spin kernel, so that the host has queued the whole call
// before the GPU reaches it and the GPU then runs it back to back. That spin makes profiled code
// slower; recording is for diagnosis, not for timing whole steps. Work captured in a CUDA graph is
// not timed (a graph replays what it captured, spin kernels included otherwise).
//
//   ember::profiler::start();
//   for (int i = 0; i < 20; ++i) train_step();
//   std::cout << ember::profiler::format(ember::profiler::stop(), 20);
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <ember/core/device.h>

namespace ember::profiler {

// The calls of one kernel entry point on one device while recording.
struct KernelStats {
  std::string name;    // the EMBER_KERNEL entry point, e.g. "conv2d_forward"
  std::string device;  // "cpu" or "cuda:0"
  int64_t calls = 0;
  double total_us = 0, min_us = 0, max_us = 0;
};

// Starts recording (what an earlier recording gathered is dropped).
void start();
// Stops recording and returns what it gathered, the most total time first. Waits for the timed GPU
// work to finish. Without a recording in progress: an empty list.
std::vector<KernelStats> stop();
bool is_recording();

// A table: one row per kernel and device with calls, mean and total microseconds per `steps` (the
// number of repetitions recorded, e.g. training steps; 1 gives the totals) and share of the total.
std::string format(const std::vector<KernelStats>& stats, int64_t steps = 1);

namespace detail {

extern std::atomic<bool> recording;

// Times one kernel-family call while recording (EMBER_KERNEL makes one per call). Nested calls are
// part of the outermost one.
class KernelScope {
 public:
  KernelScope(const char* name, Device device) {
    if (recording.load(std::memory_order_relaxed)) begin(name, device);
  }
  ~KernelScope() {
    if (active_) end();
  }
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  void begin(const char* name, Device device);
  void end() noexcept;

  bool active_ = false;  // recording when the call began (its depth is counted)
  bool timed_ = false;   // the outermost call, and not captured in a CUDA graph
  const char* name_ = nullptr;
  Device device_;
  int64_t cpu_start_ns_ = 0;
  void* gpu_start_event_ = nullptr;
  uint64_t generation_ = 0;  // which recording the call belongs to
};

}  // namespace detail

}  // namespace ember::profiler
