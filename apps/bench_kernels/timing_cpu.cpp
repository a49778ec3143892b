// CPU timing: steady_clock around each call; ceilings from a threaded memcpy of buffers far
// larger than the L3 and from OpenBLAS SGEMM (cblas_sgemm, the library Ember's CPU GEMM uses).
#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <utility>
#include <thread>

#include <ember/core/blas.h>
#include <ember/kernels/cpu/parallel.h>

#include "timing.h"

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

// The largest cache of cpu0 per /sys ("32768K"), or 0 when unreadable.
int64_t sysfs_largest_cache() {
  int64_t largest = 0;
  for (int index = 0; index < 16; ++index) {
    std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    std::string text;
    if (!(file >> text) || text.empty()) continue;
    int64_t value = 0;
    try {
      value = std::stoll(text);
    } catch (const std::exception&) {
      continue;
    }
    char unit = text.back();
    if (unit == 'K') value <<= 10;
    if (unit == 'M') value <<= 20;
    largest = std::max(largest, value);
  }
  return largest;
}

// The first integer in a file ("max" or unreadable: -1).
int64_t read_number(const std::string& path) {
  std::ifstream file(path);
  int64_t value = -1;
  if (!(file >> value)) return -1;
  return value;
}

class CpuTimer : public DeviceTimer {
 public:
  int64_t memory_available() const override { return host_memory_available(); }

  ember::Device device() const override { return ember::kCPU; }

  std::string description() const override {
    return cpu_model_name() + ", " + std::to_string(std::thread::hardware_concurrency()) + " hardware threads, " +
           std::to_string(ember::kernels::cpu::num_threads()) + " Ember threads, LLC " +
           std::to_string(cache_bytes() >> 20) + " MiB; " + ember::blas_info();
  }

  int64_t cache_bytes() const override {
    int64_t largest = sysfs_largest_cache();
    // glibc's sysconf misreads some virtual CPUs (320 MiB of L3 on a 32 MiB part): sysfs first.
    if (largest <= 0) largest = std::max(sysconf(_SC_LEVEL3_CACHE_SIZE), sysconf(_SC_LEVEL2_CACHE_SIZE));
    return largest > 0 ? largest : (int64_t(32) << 20);
  }

  std::vector<double> time_calls(const std::function<void(int)>& run, int sets, int warmup,
                                 int repeats) override {
    for (int i = 0; i < warmup; ++i) run(i % sets);
    std::vector<double> us;
    us.reserve(repeats);
    for (int i = 0; i < repeats; ++i) {
      auto start = Clock::now();
      run((warmup + i) % sets);
      auto stop = Clock::now();
      us.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
    }
    return us;
  }

  Ceilings measure_ceilings(int warmup, int repeats, int64_t sgemm_size) override {
    Ceilings c;
    // Copy: one chunk per thread of the pool, buffers 8x the LLC, between 256 MiB and 1 GiB.
    size_t bytes = std::clamp<size_t>(static_cast<size_t>(cache_bytes()) * 8, size_t(256) << 20, size_t(1) << 30);
    std::vector<char> src(bytes, 1), dst(bytes, 0);
    auto copy = [&](int) {
      ember::kernels::cpu::parallel_for(static_cast<int64_t>(bytes), 1 << 20, [&](int64_t b, int64_t e) {
        std::memcpy(dst.data() + b, src.data() + b, static_cast<size_t>(e - b));
      });
    };
    double copy_us = fastest(time_calls(copy, 1, warmup, repeats));
    c.copy_gbps = 2.0 * static_cast<double>(bytes) / (copy_us * 1e3);
    c.copy_what = "memcpy of " + std::to_string(bytes >> 20) + " MiB on " +
                  std::to_string(ember::kernels::cpu::num_threads()) + " threads, read + write";

    // OpenBLAS is not always fastest at the largest size on a small machine: the best of two.
    for (int64_t size : {sgemm_size / 2, sgemm_size}) {
      int n = static_cast<int>(size);
      std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), out(a.size(), 0.0f);
      auto sgemm = [&](int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                    out.data(), n);
      };
      double sgemm_us = fastest(time_calls(sgemm, 1, std::max(1, warmup), std::max(3, repeats / 2)));
      double tflops = 2.0 * n * static_cast<double>(n) * n / (sgemm_us * 1e6);
      if (tflops > c.sgemm_tflops) {
        c.sgemm_tflops = tflops;
        c.sgemm_what = "OpenBLAS cblas_sgemm, best of " + std::to_string(sgemm_size / 2) + "^3 and " +
                       std::to_string(sgemm_size) + "^3: " + std::to_string(n) + "^3";
      }
    }
    return c;
  }
};

}  // namespace

int64_t host_memory_available() {
  int64_t available = std::numeric_limits<int64_t>::max();
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") available = std::min(available, kib * 1024);
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  // cgroup v2, then v1 (a v1 "no limit" is a huge number, harmless here).
  const std::pair<const char*, const char*> cgroups[] = {
      {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
      {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
  for (const auto& [limit_file, usage_file] : cgroups) {
    int64_t limit = read_number(limit_file), usage = read_number(usage_file);
    if (limit > 0 && usage >= 0) available = std::min(available, std::max<int64_t>(0, limit - usage));
  }
  return available;
}

std::unique_ptr<DeviceTimer> make_cpu_timer() { return std::make_unique<CpuTimer>(); }

double fastest(const std::vector<double>& values) {
  return values.empty() ? 0 : *std::min_element(values.begin(), values.end());
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<long>(mid), values.end());
  double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  double lower = *std::max_element(values.begin(), values.begin() + static_cast<long>(mid));
  return 0.5 * (lower + upper);
}

}  // namespace bench
