// The CUDA runtime as Ember's public API sees it. Nothing here includes a CUDA header, so programs
// that use Ember compile with a plain C++ compiler. Without a device (or a build without CUDA)
// is_available() is false and everything else that needs a device throws ember::Error.
#pragma once
#include <cstddef>
#include <cstdint>

#include <ember/core/allocator.h>

namespace ember::cuda {

bool is_available();
int device_count();
void synchronize(int device = -1);  // -1: the current device
void set_device(int device);
int current_device();

// An opaque CUDA stream (cudaStream_t underneath). Default-constructed: the legacy default stream.
class Stream {
 public:
  Stream() = default;
  explicit Stream(void* handle, int device) : handle_(handle), device_(device) {}
  void* handle() const { return handle_; }
  int device() const { return device_; }
  void synchronize() const;
  // Whether the stream is recording a CUDA graph (like torch.cuda.is_current_stream_capturing):
  // work queued now runs only when the graph is replayed.
  bool is_capturing() const;
  friend bool operator==(Stream a, Stream b) { return a.handle_ == b.handle_ && a.device_ == b.device_; }

 private:
  void* handle_ = nullptr;
  int device_ = 0;
};

// The stream kernels are launched on, per device and per host thread (like PyTorch's).
Stream current_stream(int device = -1);
void set_current_stream(Stream stream);
// A new non-blocking stream on the device, alive for the rest of the process (streams are not
// pooled: create one per purpose, once, and keep it).
Stream create_stream(int device = -1, bool high_priority = false);

// Makes `waiter` wait for all work queued so far on `producer` (an event record + wait).
void stream_wait(Stream waiter, Stream producer);

// RAII: sets the current stream for this thread, restores the previous one on exit.
class StreamGuard {
 public:
  explicit StreamGuard(Stream stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};

// Counters of the caching allocator, per device.
struct AllocatorStats {
  int64_t allocated_bytes = 0;   // in live tensors
  int64_t reserved_bytes = 0;    // obtained from cudaMalloc, live or cached
  int64_t num_device_allocs = 0; // cudaMalloc calls so far
  int64_t num_device_frees = 0;  // cudaFree calls so far
  int64_t cache_hits = 0;        // allocations served from the cache
  int64_t num_allocs = 0;        // all allocations
};
AllocatorStats allocator_stats(int device = -1);
void reset_allocator_stats(int device = -1);
// Returns every cached, unused block to the driver (cudaFree).
void empty_cache();

// How cuDNN convolution algorithms are chosen for shapes not seen yet (like PyTorch's
// torch.backends.cudnn.benchmark). false, the default: cuDNN's heuristics, the same choice every
// run. true: every algorithm is timed once per shape (cudnnFind*) and the fastest kept, which is
// usually faster and may differ from run to run.
void set_cudnn_benchmark(bool enabled);
bool cudnn_benchmark();
// Whether float32 convolutions may run on tensor cores in TF32 (10-bit mantissa inputs, FP32
// accumulation), like PyTorch's torch.backends.cudnn.allow_tf32. false, Ember's default (PyTorch's
// is true): strict FP32 FMA algorithms only, results within FP32 rounding of the CPU reference.
// Applies to shapes whose algorithm is chosen after the call (choices are cached per setting).
void set_cudnn_allow_tf32(bool allowed);
bool cudnn_allow_tf32();
// Whether backward computes the weight gradients of linear and conv2d on a second stream, beside
// the data gradients (ops/weight_grad_branch.h). Off by default.
void set_concurrent_weight_grads(bool enabled);
bool concurrent_weight_grads();

namespace detail {
DataPtr allocate_device(int device, size_t nbytes);
DataPtr allocate_pinned(size_t nbytes);
// Copies nbytes between any two devices on the current stream of the CUDA side; waits for the
// copy to finish unless non_blocking (which only overlaps when the host side is pinned).
void memcpy(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes,
            bool non_blocking);
}  // namespace detail

}  // namespace ember::cuda
