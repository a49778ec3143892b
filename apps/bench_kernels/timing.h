// How one device times kernels and measures its ceilings. The CPU version uses steady_clock;
// the CUDA version (timing_cuda.cpp, built only with CUDA) uses CUDA events on Ember's stream.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace bench {

// The reference rates every figure is a percentage of, measured in the same run.
struct Ceilings {
  double copy_gbps = 0;     // a large copy, bytes read + written per second / 1e9
  double sgemm_tflops = 0;  // FP32 SGEMM (cuBLAS on the GPU, OpenBLAS on the CPU)
  std::string copy_what;    // how they were measured, for the report
  std::string sgemm_what;
};

class DeviceTimer {
 public:
  virtual ~DeviceTimer() = default;
  virtual ember::Device device() const = 0;
  virtual std::string description() const = 0;  // "NVIDIA H100 80GB HBM3, 132 SMs, L2 50 MiB"
  // The last-level cache the rotated workloads must overflow (L2 on the GPU, L3 on the CPU).
  virtual int64_t cache_bytes() const = 0;
  // Calls run(i % sets) `warmup` times, then `repeats` more times, each one timed; returns the
  // duration of each timed call in microseconds.
  virtual std::vector<double> time_calls(const std::function<void(int)>& run, int sets, int warmup,
                                         int repeats) = 0;
  virtual Ceilings measure_ceilings(int warmup, int repeats, int64_t sgemm_size) = 0;
  // Frees what the device keeps cached between cases (CUDA: the caching allocator's blocks).
  virtual void release_cached_memory() {}
  // Bytes the device's memory can still take (CUDA: free memory; CPU: host_memory_available()).
  virtual int64_t memory_available() const = 0;
};

// Bytes of host memory a new allocation can use without the kernel's OOM killer stepping in:
// MemAvailable, less where a cgroup limit leaves less; INT64_MAX when neither can be read.
int64_t host_memory_available();

std::unique_ptr<DeviceTimer> make_cpu_timer();
#ifdef EMBER_WITH_CUDA
std::unique_ptr<DeviceTimer> make_cuda_timer();
#endif

double median(std::vector<double> values);
// The smallest value: ceilings use the fastest call, the rate the hardware is known to reach
// (robust to other load on a shared machine; conservative for the percentages).
double fastest(const std::vector<double>& values);

}  // namespace bench
