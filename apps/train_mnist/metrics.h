// The per-epoch record of a run: what train_mnist prints after each epoch, kept for the metrics
// JSON (--metrics-json) and the --bench summary.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <ember/core/profiler.h>

#include "options.h"

namespace train_mnist {

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0;
  std::optional<double> test_loss, test_accuracy;  // absent for epochs --bench did not test
  double epoch_seconds = 0;
  double samples_per_second = 0;
  bool cuda_graph = false;  // the epoch's steps were replays of a captured CUDA graph
};

class MetricsLog {
 public:
  MetricsLog(const Options& options, std::string device, int world_size)
      : options_(options), device_(std::move(device)), world_size_(world_size) {}

  // Prints the epoch's summary line and keeps it; rewrites --metrics-json when given.
  void record(const EpochMetrics& metrics);
  // Median epoch time of the epochs recorded so far (seconds).
  double median_epoch_seconds() const;
  // --bench: prints the median and adds it to the metrics JSON.
  void print_bench_summary(double samples_per_epoch) const;
  // --profile: prints the kernel table of `steps` profiled steps and adds it to the metrics JSON.
  void record_profile(std::vector<ember::profiler::KernelStats> stats, int64_t steps);

 private:
  void write_json() const;

  const Options& options_;
  std::string device_;
  int world_size_;
  std::vector<EpochMetrics> epochs_;
  std::vector<ember::profiler::KernelStats> profile_;
  int64_t profile_steps_ = 0;
};

}  // namespace train_mnist
