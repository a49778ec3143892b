// Devices, streams, events and copies: the CUDA runtime behind core/cuda.h.
#include <ember/core/cuda.h>
#include <ember/core/cuda/check.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace ember::cuda {

namespace {
constexpr int kMaxDevices = 64;
thread_local cudaStream_t current_streams[kMaxDevices] = {};  // nullptr: the legacy default stream

int resolve(int device) { return device < 0 ? current_device() : device; }
std::atomic<bool> cudnn_benchmark_enabled{false};
std::atomic<bool> cudnn_tf32_allowed{false};
std::atomic<bool> concurrent_weight_grads_enabled{false};
}  // namespace

void set_cudnn_benchmark(bool enabled) { cudnn_benchmark_enabled = enabled; }
bool cudnn_benchmark() { return cudnn_benchmark_enabled; }
void set_cudnn_allow_tf32(bool allowed) { cudnn_tf32_allowed = allowed; }
bool cudnn_allow_tf32() { return cudnn_tf32_allowed; }
void set_concurrent_weight_grads(bool enabled) { concurrent_weight_grads_enabled = enabled; }
bool concurrent_weight_grads() { return concurrent_weight_grads_enabled; }

int device_count() {
  int count = 0;
  // No driver or no device: report zero rather than failing (CI machines have neither).
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

bool is_available() {
  static const bool available = device_count() > 0;
  return available;
}

void set_device(int device) {
  EMBER_CHECK(device >= 0 && device < device_count(), "set_device: no CUDA device ", device, " (", device_count(),
              " present)");
  EMBER_CUDA_CHECK(cudaSetDevice(device));
}

int current_device() {
  int device = 0;
  EMBER_CHECK(is_available(), "CUDA requested but no CUDA device is available");
  EMBER_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

void synchronize(int device) {
  int previous = current_device();
  EMBER_CUDA_CHECK(cudaSetDevice(resolve(device)));
  EMBER_CUDA_CHECK(cudaDeviceSynchronize());
  EMBER_CUDA_CHECK(cudaSetDevice(previous));
}

void Stream::synchronize() const { EMBER_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_))); }

bool Stream::is_capturing() const {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  EMBER_CUDA_CHECK(cudaStreamIsCapturing(static_cast<cudaStream_t>(handle_), &status));
  return status != cudaStreamCaptureStatusNone;
}

Stream current_stream(int device) {
  int d = resolve(device);
  return Stream(current_streams[d], d);
}

void set_current_stream(Stream stream) { current_streams[stream.device()] = static_cast<cudaStream_t>(stream.handle()); }

Stream create_stream(int device, bool high_priority) {
  int d = resolve(device);
  int previous = current_device();
  EMBER_CUDA_CHECK(cudaSetDevice(d));
  int least = 0, greatest = 0;
  EMBER_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  cudaStream_t stream = nullptr;
  EMBER_CUDA_CHECK(cudaStreamCreateWithPriority(&stream, cudaStreamNonBlocking, high_priority ? greatest : least));
  EMBER_CUDA_CHECK(cudaSetDevice(previous));
  // Streams live as long as the process: tensors may still be queued on them at exit.
  return Stream(stream, d);
}

void stream_wait(Stream waiter, Stream producer) {
  if (waiter == producer) return;
  cudaEvent_t event = nullptr;
  EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  EMBER_CUDA_CHECK(cudaEventRecord(event, static_cast<cudaStream_t>(producer.handle())));
  EMBER_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(waiter.handle()), event, 0));
  EMBER_CUDA_CHECK(cudaEventDestroy(event));  // released once the wait is satisfied
}

StreamGuard::StreamGuard(Stream stream) : previous_(current_stream(stream.device())) { set_current_stream(stream); }
StreamGuard::~StreamGuard() { set_current_stream(previous_); }

namespace detail {

cudaStream_t current_raw_stream(int device) { return current_streams[resolve(device)]; }

DataPtr allocate_pinned(size_t nbytes) {
  void* ptr = nullptr;
  EMBER_CUDA_CHECK(cudaHostAlloc(&ptr, std::max<size_t>(nbytes, 1), cudaHostAllocDefault));
  return DataPtr(ptr, kCPU, [](void* p) { cudaFreeHost(p); });
}

void memcpy(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes, bool non_blocking) {
  if (nbytes == 0) return;
  int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
  cudaMemcpyKind kind = dst_device.is_cuda() ? (src_device.is_cuda() ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                             : cudaMemcpyDeviceToHost;
  cudaStream_t stream = current_raw_stream(device);
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, kind, stream));
  if (!non_blocking) EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace detail
}  // namespace ember::cuda
