#include "runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

namespace bench {
namespace {

TensorList to_device(const TensorList& tensors, ember::Device device) {
  TensorList out;
  out.reserve(tensors.size());
  // clone() on the CPU so that the reference run never writes into the timed workload.
  for (const Tensor& t : tensors) out.push_back(device.is_cpu() ? t.clone() : t.to(device));
  return out;
}

TensorList with_floating_dtype(const TensorList& tensors, ember::DType dtype) {
  TensorList out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) out.push_back(ember::is_floating(t.dtype()) ? t.to(dtype) : t.clone());
  return out;
}

int64_t workload_bytes(const TensorList& tensors) {
  std::set<const void*> seen;
  int64_t bytes = 0;
  for (const Tensor& t : tensors) {
    if (seen.insert(t.storage().get()).second) bytes += static_cast<int64_t>(t.nbytes());
  }
  return bytes;
}

void synchronize(ember::Device device) {
  if (device.is_cuda()) ember::cuda::synchronize(device.index);
}

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", bytes / double(int64_t(1) << 30));
  return text;
}

// Empty when the case fits in memory, else why not. Its peak is estimated from its traffic (about
// the size of one workload, W): on the CPU the workload and the copy that is timed (2W), plus the
// float64 reference and the comparison when checked (6W in all); on a GPU the host workload (W, 4W
// when checked: the output brought back and compared in float64) and, on the device, the workload
// and the rotated ones (at most twice the cache more). A case that cannot fit is refused before
// anything is allocated: with overcommit a large allocation can succeed and then be OOM-killed when
// it is touched.
std::string memory_shortfall(const BenchCase& c, const DeviceTimer& timer, bool checked) {
  const double w = c.bytes;
  const bool cpu = timer.device().is_cpu();
  const double host = (cpu ? (checked ? 6 : 2) : (checked ? 4 : 1)) * w;
  const double host_free = static_cast<double>(host_memory_available());
  if (host > host_free)
    return "out of memory: needs about " + gib(host) + " of host memory, " + gib(host_free) + " available";
  if (!cpu) {
    const double device = w + 2.0 * static_cast<double>(timer.cache_bytes());
    const double device_free = static_cast<double>(timer.memory_available());
    if (device > device_free)
      return "out of memory: needs about " + gib(device) + " of device memory, " + gib(device_free) + " free";
  }
  return "";
}

}  // namespace

std::string compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  std::ostringstream why;
  if (actual.sizes() != expected.sizes()) {
    why << "shape " << ember::shape_str(actual.sizes()) << " vs " << ember::shape_str(expected.sizes());
    return why.str();
  }
  Tensor host = actual.to(ember::kCPU);
  if (!ember::is_floating(expected.dtype())) {
    std::vector<int64_t> a = host.to_vector<int64_t>(), e = expected.to_vector<int64_t>();
    int64_t mismatches = 0, first = -1;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] != e[i]) {
        if (first < 0) first = static_cast<int64_t>(i);
        ++mismatches;
      }
    }
    if (mismatches == 0) return "";
    why << mismatches << " of " << a.size() << " differ, first at " << first << ": " << a[static_cast<size_t>(first)]
        << " vs " << e[static_cast<size_t>(first)];
    return why.str();
  }
  std::vector<double> a = host.to_vector<double>(), e = expected.to_vector<double>();
  double worst_excess = 0;
  int64_t worst = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    double allowed = atol + rtol * std::fabs(e[i]);
    double diff = std::fabs(a[i] - e[i]);
    bool bad = std::isnan(a[i]) != std::isnan(e[i]) || diff > allowed;
    double excess = std::isnan(diff) ? (std::isnan(a[i]) && std::isnan(e[i]) ? 0.0 : INFINITY) : diff - allowed;
    if (bad && (worst < 0 || excess > worst_excess)) {
      worst = static_cast<int64_t>(i);
      worst_excess = excess;
    }
  }
  if (worst < 0) return "";
  size_t w = static_cast<size_t>(worst);
  why << "element " << worst << ": " << a[w] << " vs " << e[w] << " (|diff| " << std::fabs(a[w] - e[w])
      << " > atol " << atol << " + rtol " << rtol << " * |expected|)";
  return why.str();
}

Result run_case(const BenchCase& c, DeviceTimer& timer, const Ceilings& ceilings, const RunOptions& options) {
  ember::NoGradGuard no_grad;
  Result r;
  r.name = c.name;
  r.family = c.family;
  r.shape = c.shape;
  r.size = c.size;
  r.bound = c.bound;
  r.bytes = c.bytes;
  r.flops = c.flops;
  const ember::Device device = timer.device();
  try {
    std::string shortfall = memory_shortfall(c, timer, c.size <= options.check_limit);
    if (!shortfall.empty()) {
      r.check = "ERROR";
      r.detail = shortfall;
      return r;
    }
    // Workload 0 doubles as the checked one: its inputs are what the check compared on.
    TensorList host = c.make(0);
    std::vector<TensorList> sets;
    sets.push_back(to_device(host, device));

    if (c.size <= options.check_limit) {
      // The CPU reference: float64 when the CPU itself is under test, else the CPU kernel in float32.
      TensorList reference = device.is_cpu() ? with_floating_dtype(host, ember::kFloat64) : host;
      (c.reference ? c.reference : c.run)(reference);
      c.run(sets[0]);
      synchronize(device);
      r.check = "PASS";
      for (size_t index : c.outputs) {
        std::string why = compare_tensors(sets[0][index], reference[index], c.rtol, c.atol);
        if (!why.empty()) {
          r.check = "FAIL";
          r.detail += (r.detail.empty() ? "" : "; ") + ("output " + std::to_string(index) + ": " + why);
        }
      }
    } else {
      r.check = "skip";
    }
    host.clear();

    // Enough workloads that cycling through them streams from memory rather than the cache.
    int64_t per_set = std::max<int64_t>(1, workload_bytes(sets[0]));
    int64_t wanted = (2 * timer.cache_bytes() + per_set - 1) / per_set;
    int num_sets = static_cast<int>(std::clamp<int64_t>(wanted, 1, options.max_sets));
    for (int i = 1; i < num_sets; ++i) sets.push_back(to_device(c.make(static_cast<uint64_t>(i) * 7919), device));
    synchronize(device);

    auto run = [&](int i) { c.run(sets[static_cast<size_t>(i)]); };
    const int repeats = c.max_repeats > 0 ? std::min(options.repeats, c.max_repeats) : options.repeats;
    const int warmup = c.max_repeats > 0 ? std::min(options.warmup, std::max(1, c.max_repeats / 5)) : options.warmup;
    std::vector<double> us = timer.time_calls(run, num_sets, warmup, repeats);
    r.sets = num_sets;
    r.repeats = repeats;
    r.median_us = median(us);
    r.min_us = us.empty() ? 0 : *std::min_element(us.begin(), us.end());
    if (c.bound == Bound::Bandwidth) {
      r.rate = c.bytes / (r.median_us * 1e3);  // GB/s
      r.percent = ceilings.copy_gbps > 0 ? 100.0 * r.rate / ceilings.copy_gbps : 0;
    } else {
      r.rate = c.flops / (r.median_us * 1e6);  // TFLOP/s
      r.percent = ceilings.sgemm_tflops > 0 ? 100.0 * r.rate / ceilings.sgemm_tflops : 0;
    }
  } catch (const std::exception& e) {
    r.check = "ERROR";
    r.detail = e.what();
  }
  timer.release_cached_memory();
  return r;
}

}  // namespace bench
