// The GPU side of ember::profiler (core/profiler.cpp): CUDA events around a kernel-family call on
// the current stream, behind a spin kernel that holds the stream while the host queues the call.
// Private; declares no CUDA types, so the profiler compiles without CUDA (core/cuda_runtime_stub.cpp
// says "not timed" there).
#pragma once
#include <cstdint>

namespace ember::cuda::detail {

// Queues the spin and a start event on the current stream of `device`. nullptr (nothing queued)
// when that stream is capturing a CUDA graph.
void* timing_start(int device);
// Queues the end event of a span that timing_start began.
void* timing_stop(int device);
// Waits for the span's end event; its GPU time in microseconds. Both events go back to the pool.
double timing_elapsed_us(void* start_event, void* end_event);

// Holds `stream` for `cycles` SM clock cycles (kernels/cuda/profiler_spin.cu).
void queue_spin(void* stream, int64_t cycles);

}  // namespace ember::cuda::detail
