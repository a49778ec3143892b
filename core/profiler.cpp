#include <ember/core/profiler.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

#include <ember/core/cuda/kernel_timing.h>

namespace ember::profiler {

namespace detail {
std::atomic<bool> recording{false};
std::atomic<uint64_t> recording_generation{0};  // start() counts recordings
}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;

// A GPU call whose events are still to be read (reading them waits for the GPU, so stop() does it).
// kDropped: a call that outlived its recording, read only to give its events back to the pool.
constexpr size_t kDropped = static_cast<size_t>(-1);
struct PendingSpan {
  size_t row;
  void* start_event;
  void* end_event;
};

struct Recorder {
  std::mutex mutex;
  std::vector<KernelStats> rows;
  std::map<std::pair<std::string, std::string>, size_t> row_of;  // (name, device) -> rows index
  std::vector<PendingSpan> pending;

  size_t row(const char* name, Device device) {
    auto key = std::make_pair(std::string(name), device.str());
    auto found = row_of.find(key);
    if (found != row_of.end()) return found->second;
    KernelStats s;
    s.name = key.first;
    s.device = key.second;
    rows.push_back(s);
    return row_of[key] = rows.size() - 1;
  }

  void add(size_t r, double us) {
    KernelStats& s = rows[r];
    s.min_us = s.calls == 0 ? us : std::min(s.min_us, us);
    s.max_us = s.calls == 0 ? us : std::max(s.max_us, us);
    s.total_us += us;
    ++s.calls;
  }
};

Recorder& recorder() {
  static Recorder r;
  return r;
}

// Depth of EMBER_KERNEL calls on this thread: only the outermost is timed.
thread_local int call_depth = 0;

}  // namespace

void start() {
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mutex);
  // The spans of an earlier recording are dropped, but their events go back to the pool (this
  // waits for the GPU work they time, as stop() would have). Taken out of the list first, so that
  // an error part way never reads (and returns) an event twice.
  std::vector<PendingSpan> dropped;
  dropped.swap(r.pending);
  r.rows.clear();
  r.row_of.clear();
  for (const PendingSpan& span : dropped) cuda::detail::timing_elapsed_us(span.start_event, span.end_event);
  ++detail::recording_generation;
  detail::recording = true;
}

bool is_recording() { return detail::recording; }

std::vector<KernelStats> stop() {
  if (!detail::recording.exchange(false)) return {};
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<PendingSpan> spans;  // out of the list first: an error part way reads none twice
  spans.swap(r.pending);
  for (const PendingSpan& span : spans) {
    const double us = cuda::detail::timing_elapsed_us(span.start_event, span.end_event);
    if (span.row != kDropped) r.add(span.row, us);
  }
  std::vector<KernelStats> out;
  for (const KernelStats& s : r.rows) {
    if (s.calls > 0) out.push_back(s);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const KernelStats& a, const KernelStats& b) { return a.total_us > b.total_us; });
  return out;
}

std::string format(const std::vector<KernelStats>& stats, int64_t steps) {
  steps = std::max<int64_t>(steps, 1);
  double total = 0;
  size_t name_width = 6;
  for (const KernelStats& s : stats) {
    total += s.total_us;
    name_width = std::max(name_width, s.name.size());
  }
  std::string out;
  char line[256];
  const int w = static_cast<int>(name_width);
  std::snprintf(line, sizeof line, "%-*s  %-7s  %9s  %10s  %10s  %6s\n", w, "kernel", "device", "calls/it",
                "us/call", "us/it", "share");
  out += line;
  for (const KernelStats& s : stats) {
    std::snprintf(line, sizeof line, "%-*s  %-7s  %9.2f  %10.2f  %10.2f  %5.1f%%\n", w, s.name.c_str(),
                  s.device.c_str(), static_cast<double>(s.calls) / steps, s.total_us / s.calls, s.total_us / steps,
                  total > 0 ? 100.0 * s.total_us / total : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "%-*s  %-7s  %9s  %10s  %10.2f  %5.1f%%\n", w, "total", "", "", "", total / steps,
                100.0);
  out += line;
  return out;
}

namespace detail {

void KernelScope::begin(const char* name, Device device) {
  active_ = true;
  name_ = name;
  device_ = device;
  generation_ = recording_generation;
  if (call_depth++ > 0) return;  // inside another timed call: part of its time
  if (device.is_cpu()) {
    cpu_start_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    timed_ = true;
    return;
  }
  try {
    gpu_start_event_ = cuda::detail::timing_start(device.index);
  } catch (...) {
    // The constructor throws, so no destructor will undo the depth: undo it here.
    --call_depth;
    active_ = false;
    throw;
  }
  timed_ = gpu_start_event_ != nullptr;  // nullptr: the stream is capturing a graph
}

void KernelScope::end() noexcept {
  --call_depth;
  if (!timed_) return;
  try {
    Recorder& r = recorder();
    if (device_.is_cpu()) {
      int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
      std::lock_guard<std::mutex> lock(r.mutex);
      if (recording && generation_ == recording_generation) r.add(r.row(name_, device_), (now - cpu_start_ns_) / 1e3);
      return;
    }
    void* end_event = cuda::detail::timing_stop(device_.index);
    std::lock_guard<std::mutex> lock(r.mutex);
    // A call that outlived its recording is dropped; its events are still read once (at the next
    // start() or stop()) to return them to the pool.
    const bool counted = recording && generation_ == recording_generation;
    r.pending.push_back({counted ? r.row(name_, device_) : kDropped, gpu_start_event_, end_event});
  } catch (...) {
    // A failed event record loses this call's figure; the call itself already ran (or threw).
  }
}

}  // namespace detail

}  // namespace ember::profiler
