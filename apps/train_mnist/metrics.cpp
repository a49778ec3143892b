#include "metrics.h"

#include <ember/core/atomic_file.h>
#include <ember/core/blas.h>
#include <ember/core/error.h>
#include <ember/core/threads.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace train_mnist {

void MetricsLog::record(const EpochMetrics& m) {
  if (m.test_loss) {
    std::printf("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f%%, %.2f s, %.0f samples/s\n", m.epoch,
                m.train_loss, *m.test_loss, 100.0 * *m.test_accuracy, m.epoch_seconds, m.samples_per_second);
  } else {
    std::printf("epoch %d: train loss %.4f, %.3f s, %.0f samples/s\n", m.epoch, m.train_loss, m.epoch_seconds,
                m.samples_per_second);
  }
  std::fflush(stdout);
  epochs_.push_back(m);
  if (!options_.metrics_json.empty()) write_json();
}

double MetricsLog::median_epoch_seconds() const {
  std::vector<double> sorted;
  for (const EpochMetrics& m : epochs_) sorted.push_back(m.epoch_seconds);
  if (sorted.empty()) return 0;
  std::sort(sorted.begin(), sorted.end());
  size_t mid = sorted.size() / 2;
  return sorted.size() % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

void MetricsLog::print_bench_summary(double samples_per_epoch) const {
  if (epochs_.empty()) return;
  double median = median_epoch_seconds();
  std::printf("bench: median epoch %.3f s over %zu epochs on %s (%.0f samples/s)\n", median, epochs_.size(),
              device_.c_str(), samples_per_epoch / median);
  if (!options_.metrics_json.empty()) write_json();
}

void MetricsLog::record_profile(std::vector<ember::profiler::KernelStats> stats, int64_t steps) {
  profile_ = std::move(stats);
  profile_steps_ = steps;
  const bool gpu = device_.rfind("cuda", 0) == 0;
  std::printf("profile: kernel time per training step, mean of %lld eager steps (%s)\n%s",
              static_cast<long long>(steps),
              gpu ? "device time of each call, launch latency excluded" : "wall time of each call",
              ember::profiler::format(profile_, steps).c_str());
  std::fflush(stdout);
  if (!options_.metrics_json.empty()) write_json();
}

void MetricsLog::write_json() const {
  nlohmann::json epochs = nlohmann::json::array();
  std::vector<double> epoch_seconds;
  for (const EpochMetrics& m : epochs_) {
    nlohmann::json entry = {{"epoch", m.epoch},
                            {"train_loss", m.train_loss},
                            {"epoch_seconds", m.epoch_seconds},
                            {"samples_per_second", m.samples_per_second},
                            {"device", device_},
                            {"cuda_graph", m.cuda_graph},
                            {"world_size", world_size_}};
    if (m.test_loss) {
      entry["test_loss"] = *m.test_loss;
      entry["test_accuracy"] = *m.test_accuracy;
    }
    epochs.push_back(entry);
    epoch_seconds.push_back(m.epoch_seconds);
  }
  const Options& o = options_;
  nlohmann::json doc = {{"epochs", epochs},
                        {"options", {{"batch_size", o.batch_size}, {"lr", o.lr}, {"momentum", o.momentum},
                                     {"optimizer", o.optimizer}, {"seed", o.seed}, {"bench", o.bench},
                                     {"cuda_graph", o.cuda_graph}, {"cuda_graph_steps", o.cuda_graph_steps},
                                     {"cudnn_benchmark", o.cudnn_benchmark}, {"cudnn_tf32", o.cudnn_tf32},
                                     {"concurrent_wgrad", o.concurrent_wgrad}}}};
  if (device_ == "cpu") doc["cpu"] = {{"threads", ember::get_num_threads()}, {"blas", ember::blas_info()}};
  if (profile_steps_ > 0) {
    nlohmann::json kernels = nlohmann::json::array();
    for (const ember::profiler::KernelStats& k : profile_) {
      kernels.push_back({{"kernel", k.name},
                         {"device", k.device},
                         {"calls_per_step", static_cast<double>(k.calls) / profile_steps_},
                         {"us_per_call", k.total_us / k.calls},
                         {"us_per_step", k.total_us / profile_steps_},
                         {"min_us", k.min_us},
                         {"max_us", k.max_us}});
    }
    doc["profile"] = {{"steps", profile_steps_}, {"kernels", kernels}};
  }
  if (o.bench) {
    doc["bench"] = {{"median_epoch_seconds", median_epoch_seconds()}, {"epoch_seconds", epoch_seconds},
                    {"device", device_}};
  }
  // Invalid UTF-8 (in a string from the system, say the BLAS description) becomes U+FFFD: a dump
  // that threw would lose the metrics.
  ember::write_file_atomically(o.metrics_json, doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                               "--metrics-json");
}

}  // namespace train_mnist
