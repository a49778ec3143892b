// The CUDA runtime API apart from allocation (device_memory.cpp) and graphs (graph.cpp): errors,
// device queries, synchronisation, copies and memsets, streams and events. Streams run synchronously
// in issue order; enqueue() runs queued work now or records it into a capturing stream's graph.
#include "internal.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace emu {
std::set<cudaStream_t> g_streams;
CUstream_st g_null_stream{0, 0};
int g_active_captures = 0;

CUstream_st* stream_rec(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return &g_null_stream;
  if (!g_streams.count(s)) return nullptr;
  return s;
}

cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> work) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(stream);
  if (!rec) {
    report("%s on an unknown stream %p", what, static_cast<void*>(stream));
    g_detail.clear();
    return cudaErrorInvalidResourceHandle;
  }
  const char* category = category_of(what);
  bool capturing = rec->capture != nullptr;
  count_event(category, capturing && !rec->capture->invalidated);
  trace_event(category, what, stream, g_replaying ? "replay" : capturing ? "capture" : "eager");
  std::string described = g_detail.empty() ? std::string(what) : std::string(what) + " " + g_detail;
  g_detail.clear();
  if (rec->capture) {
    if (rec->capture->invalidated) return cudaErrorStreamCaptureInvalidated;
    capture_node(rec, std::move(described), std::move(work));
    return cudaSuccess;
  }
  if (g_active_captures > 0)
    report("WARNING: %s on stream %p runs eagerly while a graph capture is active on another stream "
           "(it will not be part of the graph)", what, static_cast<void*>(stream));
  DeviceAccess access;
  work();
  return cudaSuccess;
}

}  // namespace emu

using namespace emu;

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureUnjoined: return "cudaErrorStreamCaptureUnjoined";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }
cudaError_t cudaGetLastError() {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return g_last_error; }
cudaError_t cudaGetDeviceCount(int* n) {
  *n = env_int("EMU_DEVICES", 1);
  return *n > 0 ? cudaSuccess : cudaErrorNoDevice;
}
static thread_local int t_device = 0;
cudaError_t cudaGetDevice(int* d) {
  *d = t_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) {
    report("cudaSetDevice(%d) with %d devices", d, n);
    return cudaErrorInvalidDevice;
  }
  t_device = d;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *v = env_int("EMU_SMS", 4); break;
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrWarpSize: *v = 32; break;
    case cudaDevAttrClockRate: *v = 1000000; break;  // kHz: clock64() counts nanoseconds
    default: *v = 0; report("WARNING: cudaDeviceGetAttribute(%d) not emulated, returns 0", static_cast<int>(attr));
  }
  return cudaSuccess;
}
static cudaError_t sync_check(const char* what, cudaStream_t s, bool all) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  trace_host("sync", what, s);
  for (cudaStream_t st : g_streams) {
    if (st->capture && (all || st == s)) {
      report_returned("%s while stream %p is capturing: illegal, invalidates the capture", what, static_cast<void*>(st));
      st->capture->invalidated = true;
      return cudaErrorStreamCaptureUnsupported;
    }
  }
  cudaError_t e = g_last_error;  // a sticky kernel fault shows at the next synchronisation
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaDeviceSynchronize() { return sync_check("cudaDeviceSynchronize", nullptr, true); }
cudaError_t cudaDeviceGetStreamPriorityRange(int* least, int* greatest) {
  *least = 0;
  *greatest = -5;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = size_t(16) << 30;
  *total_bytes = size_t(80) << 30;
  return cudaSuccess;
}

static const char* kind_name(cudaMemcpyKind k) {
  static const char* names[] = {"HostToHost", "HostToDevice", "DeviceToHost", "DeviceToDevice", "Default"};
  return names[k];
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (n == 0) return cudaSuccess;
  bool dst_dev = find_device(dst) != nullptr, src_dev = find_device(src) != nullptr;
  if (kind == cudaMemcpyDefault) kind = dst_dev ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                                : (src_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  char what[96];
  std::snprintf(what, sizeof what, "cudaMemcpyAsync(%s)", kind_name(kind));
  if (dst_dev != want_dst || src_dev != want_src) {
    report("%s: dst %p is %s, src %p is %s", what, dst, dst_dev ? "device" : "host", src, src_dev ? "device" : "host");
    return cudaErrorInvalidValue;
  }
  if (want_dst && !check_device_range(dst, n, what)) return cudaErrorInvalidValue;
  if (want_src && !check_device_range(src, n, what)) return cudaErrorInvalidValue;
  CUstream_st* rec = stream_rec(stream);
  if (rec && rec->capture && (!want_dst || !want_src)) {
    const void* host = want_dst ? src : dst;
    if (!is_pinned(host, n))
      report("WARNING: %s of pageable host memory captured into a graph (CUDA rejects or makes it unsafe)", what);
  }
  g_detail = std::to_string(n) + " bytes" + (want_dst && want_src ? "" : is_pinned(want_dst ? src : dst, n) ? " (pinned host)" : " (pageable host)");
  return enqueue(stream, what, [=] { std::memmove(dst, src, n); });
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, nullptr);
  return e != cudaSuccess ? e : sync_check("cudaMemcpy", nullptr, false);
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t n, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (n == 0) return cudaSuccess;
  if (!check_device_range(dst, n, "cudaMemsetAsync")) return cudaErrorInvalidValue;
  g_detail = std::to_string(n) + " bytes value " + std::to_string(value);
  return enqueue(stream, "cudaMemsetAsync", [=] { std::memset(dst, value, n); });
}
cudaError_t cudaMemset(void* dst, int value, size_t n) { return cudaMemsetAsync(dst, value, n, nullptr); }

cudaError_t cudaStreamCreateWithPriority(cudaStream_t* s, unsigned int flags, int) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  static int next = 1;
  *s = new CUstream_st{next++, flags};
  g_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) { return cudaStreamCreateWithPriority(s, flags, 0); }
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithPriority(s, 0, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!g_streams.erase(s)) return cudaErrorInvalidResourceHandle;
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!stream_rec(s)) {
    report("cudaStreamSynchronize on unknown stream %p", static_cast<void*>(s));
    return cudaErrorInvalidResourceHandle;
  }
  return sync_check("cudaStreamSynchronize", s, s == nullptr);
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* st) {
  CUstream_st* rec = stream_rec(s);
  if (!rec || !rec->capture) *st = cudaStreamCaptureStatusNone;
  else *st = rec->capture->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec || !e) return cudaErrorInvalidResourceHandle;
  capture_record(e, rec);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec || !e) return cudaErrorInvalidResourceHandle;
  return capture_wait(rec, s, e);
}
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  trace_host("sync", "cudaEventSynchronize", nullptr);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 0.001f;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
