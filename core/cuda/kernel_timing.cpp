#include <ember/core/cuda/kernel_timing.h>

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

#include <ember/core/cuda/check.h>
#include <ember/core/cuda/device_scope.h>
#include <ember/core/cuda.h>

namespace ember::cuda::detail {

namespace {

// How long the spin holds the stream: longer than the host takes to queue any one call (a cuDNN
// convolution with its descriptors is the slowest, tens of microseconds).
constexpr double kSpinMicroseconds = 200.0;

std::mutex pool_mutex;
// Recorded and read: free for the next span on the same device (an event can only be recorded on
// a stream of the device it was created on; DataParallel times several devices at once).
std::map<int, std::vector<cudaEvent_t>> event_pool;
std::map<cudaEvent_t, int> event_device;  // every event made here -> its device

// An event of `device`, which is current.
cudaEvent_t take_event(int device) {
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    std::vector<cudaEvent_t>& pool = event_pool[device];
    if (!pool.empty()) {
      cudaEvent_t e = pool.back();
      pool.pop_back();
      return e;
    }
  }
  cudaEvent_t e = nullptr;
  EMBER_CUDA_CHECK(cudaEventCreate(&e));
  std::lock_guard<std::mutex> lock(pool_mutex);
  event_device[e] = device;
  return e;
}

void give_back(cudaEvent_t e) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  event_pool[event_device.at(e)].push_back(e);
}

int64_t spin_cycles(int device) {
  int khz = 0;  // the SM clock's peak, which is what the H100 runs at under load
  EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  return static_cast<int64_t>(kSpinMicroseconds * khz / 1000.0);
}

}  // namespace

void* timing_start(int device) {
  DeviceScope on_device(device);
  if (ember::cuda::current_stream(device).is_capturing()) return nullptr;
  cudaStream_t stream = current_raw_stream(device);
  queue_spin(stream, spin_cycles(device));
  cudaEvent_t start = take_event(device);
  EMBER_CUDA_CHECK(cudaEventRecord(start, stream));
  return start;
}

void* timing_stop(int device) {
  DeviceScope on_device(device);
  cudaEvent_t end = take_event(device);
  EMBER_CUDA_CHECK(cudaEventRecord(end, current_raw_stream(device)));
  return end;
}

double timing_elapsed_us(void* start_event, void* end_event) {
  auto start = static_cast<cudaEvent_t>(start_event), end = static_cast<cudaEvent_t>(end_event);
  float ms = 0;
  EMBER_CUDA_CHECK(cudaEventSynchronize(end));
  EMBER_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
  give_back(start);
  give_back(end);
  return 1000.0 * ms;
}

}  // namespace ember::cuda::detail
