// core/cuda.h for builds without CUDA: no device, and a clear error wherever one is needed.
#ifndef EMBER_WITH_CUDA
#include <ember/core/cuda.h>
#include <ember/core/cuda/kernel_timing.h>
#include <ember/core/cuda_graph.h>
#include <ember/core/error.h>

namespace ember::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  EMBER_FAIL(what, ": this build of Ember has no CUDA support (configured with EMBER_CUDA=OFF or without nvcc)");
}
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
void synchronize(int) { no_cuda("cuda::synchronize"); }
void set_device(int) { no_cuda("cuda::set_device"); }
int current_device() { no_cuda("cuda::current_device"); }
void Stream::synchronize() const { no_cuda("Stream::synchronize"); }
bool Stream::is_capturing() const { return false; }
Stream current_stream(int) { no_cuda("cuda::current_stream"); }
void set_current_stream(Stream) { no_cuda("cuda::set_current_stream"); }
Stream create_stream(int, bool) { no_cuda("cuda::create_stream"); }
void stream_wait(Stream, Stream) { no_cuda("cuda::stream_wait"); }
StreamGuard::StreamGuard(Stream) { no_cuda("cuda::StreamGuard"); }
StreamGuard::~StreamGuard() = default;
AllocatorStats allocator_stats(int) { no_cuda("cuda::allocator_stats"); }
void reset_allocator_stats(int) { no_cuda("cuda::reset_allocator_stats"); }
void empty_cache() {}
void set_cudnn_benchmark(bool) {}  // nothing to choose without cuDNN
bool cudnn_benchmark() { return false; }
void set_cudnn_allow_tf32(bool) {}
bool cudnn_allow_tf32() { return false; }
void set_concurrent_weight_grads(bool) {}  // no second stream without CUDA
bool concurrent_weight_grads() { return false; }

void Graph::capture_begin() { no_cuda("cuda::Graph::capture_begin"); }
void Graph::capture_end() { no_cuda("cuda::Graph::capture_end"); }
void Graph::capture(const std::function<void()>&) { no_cuda("cuda::Graph::capture"); }
void Graph::replay() { no_cuda("cuda::Graph::replay"); }
void Graph::reset() {}
Graph::~Graph() = default;

namespace detail {
int begin_private_pool(int) { no_cuda("cuda::Graph"); }
void end_private_pool(int) {}
void release_private_pool(int, int) {}
DataPtr allocate_device(int device, size_t) { no_cuda(("allocate on cuda:" + std::to_string(device)).c_str()); }
DataPtr allocate_pinned(size_t) { no_cuda("allocate_pinned"); }
void memcpy(void*, Device, const void*, Device, size_t, bool) { no_cuda("copy to or from a CUDA tensor"); }
// The profiler times nothing on a device that cannot exist; the call itself reports the error.
void* timing_start(int) { return nullptr; }
void* timing_stop(int) { return nullptr; }
double timing_elapsed_us(void*, void*) { return 0.0; }
void queue_spin(void*, int64_t) {}
}  // namespace detail

}  // namespace ember::cuda
#endif
