// What the files of the emulated runtime share (private to tests/emu/runtime): the one lock that
// serialises the emulated device, error reporting, device allocations, stream records and the trace
// hooks that every queued operation goes through. The public side is include/cuda_runtime.h.
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
extern "C" int __sanitizer_get_ownership(const volatile void* p);
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace emu {

// ---------------------------------------------------------------- reporting (report.cpp)
extern std::string g_context;  // the kernel being run, appended to every report
// Totals for the EMU SUMMARY line at exit.
extern uint64_t g_launches, g_blocks, g_threads, g_barriers, g_shuffles;
// An EMU ERROR that CUDA also returns to the caller: printed, but it does not fail the run.
void report_returned(const char* fmt, ...);
int env_int(const char* name, int fallback);
extern std::recursive_mutex g_mutex;  // one CUDA "device": everything serialised
extern cudaError_t g_last_error;      // what cudaGetLastError returns (sticky until read)
void set_error(cudaError_t e);

// ---------------------------------------------------------------- device memory (device_memory.cpp)
struct Alloc {
  char* map_base;
  size_t map_size;
  char* ptr;
  size_t size;      // requested
  size_t data_len;  // accessible bytes from the page start to the guard page
  char* data_start;
};
extern const size_t g_page;
// Device memory is inaccessible to the host (EMU_PROTECT) except while one of these exists: a kernel,
// copy or library call runs inside one, so a host dereference of a device pointer faults.
struct DeviceAccess {
  DeviceAccess();
  ~DeviceAccess();
};
const Alloc* find_device(const void* p);
bool is_pinned(const void* p, size_t n);

}  // namespace emu

// ---------------------------------------------------------------- streams and graphs (runtime_api.cpp, graph.cpp)
// The handle types of the fake API (their names are those cuda_runtime.h forward-declares).
struct CUgraph_st {
  std::vector<std::pair<std::string, std::function<void()>>> nodes;
  // While capturing, in step with nodes: the stream that issued each node and whether a later node
  // depends on it. A node nothing depends on must be in the origin's frontier at EndCapture (joined).
  std::vector<int> issued_by;
  std::vector<bool> has_dependent;
  unsigned long long serial = 0;  // tells the events recorded in this capture from those of ended ones
  int origin_id = 0;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  bool invalidated = false;  // capture-wide: a sync on any of its streams spoils the whole graph
};
struct CUgraphExec_st {
  std::vector<std::pair<std::string, std::function<void()>>> nodes;
};
struct CUstream_st {
  int id;
  unsigned flags;
  CUgraph_st* capture = nullptr;  // recording into this graph (its own capture, or one it was forked into)
  bool forked = false;            // joined another stream's capture by waiting on one of its events
  std::vector<size_t> frontier{}; // the captured nodes its next node depends on
};
struct CUevent_st {
  unsigned long long capture_serial = 0;  // the capture of the stream it was last recorded on (0: none)
  int stream_id = 0;                      // that stream (for the trace)
  std::vector<size_t> frontier;           // that stream's frontier at the record: what a waiter depends on
};

namespace emu {
extern std::set<cudaStream_t> g_streams;
extern CUstream_st g_null_stream;  // the legacy default stream (nullptr, cudaStreamLegacy, cudaStreamPerThread)
extern int g_active_captures;
// The record of a stream handle, nullptr for an unknown (destroyed) one.
CUstream_st* stream_rec(cudaStream_t s);
// Cross-stream capture (graph.cpp): a node captured on a stream, an event recorded on a stream, a stream
// waiting on an event (which forks a non-capturing stream into the event's capture).
void capture_node(CUstream_st* rec, std::string described, std::function<void()> work);
void capture_record(CUevent_st* e, CUstream_st* rec);
cudaError_t capture_wait(CUstream_st* rec, cudaStream_t s, CUevent_st* e);

// ---------------------------------------------------------------- trace (trace.cpp)
extern std::string g_detail;  // what the next traced event adds to its name (grid/block, bytes, sizes)
extern int g_replaying;       // > 0 while cudaGraphLaunch re-enqueues its nodes
extern TraceCounts g_counts;
void trace_event(const char* category, const char* what, cudaStream_t stream, const char* mode);
const char* category_of(const char* what);
void count_event(const char* category, bool capturing);
void trace_host(const char* category, const char* what, cudaStream_t stream);

}  // namespace emu
