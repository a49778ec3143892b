// Device memory: every cudaMalloc is its own mapping, right-aligned against a guard page so that an
// overrun faults, filled with 0xFF (NaN) because fresh device memory is garbage, not zeros, and
// protected (PROT_NONE) except while a DeviceAccess exists, so that host code reading a device
// pointer faults where it does it. Pinned host memory (cudaHostAlloc) is recorded to tell pinned
// from pageable copies.
#include "internal.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace emu {
static std::map<uintptr_t, Alloc> g_device;  // by ptr
static std::map<uintptr_t, size_t> g_pinned;
static int g_access_depth = 0;
static const bool g_protect = env_int("EMU_PROTECT", 1) != 0;
const size_t g_page = static_cast<size_t>(sysconf(_SC_PAGESIZE));

static void set_access(const Alloc& a, bool on) {
  if (!g_protect) return;
  mprotect(a.data_start, a.data_len, on ? PROT_READ | PROT_WRITE : PROT_NONE);
}
DeviceAccess::DeviceAccess() {
  if (g_access_depth++ == 0)
    for (auto& kv : g_device) set_access(kv.second, true);
}
DeviceAccess::~DeviceAccess() {
  if (--g_access_depth == 0)
    for (auto& kv : g_device) set_access(kv.second, false);
}

const Alloc* find_device(const void* p) {
  auto it = g_device.upper_bound(reinterpret_cast<uintptr_t>(p));
  if (it == g_device.begin()) return nullptr;
  --it;
  const Alloc& a = it->second;
  uintptr_t q = reinterpret_cast<uintptr_t>(p);
  if (q >= reinterpret_cast<uintptr_t>(a.ptr) && q < reinterpret_cast<uintptr_t>(a.ptr) + std::max<size_t>(a.size, 1))
    return &a;
  return nullptr;
}
bool is_pinned(const void* p, size_t n) {
  auto it = g_pinned.upper_bound(reinterpret_cast<uintptr_t>(p));
  if (it == g_pinned.begin()) return false;
  --it;
  uintptr_t q = reinterpret_cast<uintptr_t>(p);
  return q >= it->first && q + n <= it->first + it->second;
}

bool check_device_range(const void* p, size_t n, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (n == 0) return true;
  const Alloc* a = find_device(p);
  if (!a) {
    report("%s: %p is not device memory from cudaMalloc", what, p);
    return false;
  }
  if (static_cast<const char*>(p) + n > a->ptr + a->size) {
    report("%s: %zu bytes at %p overrun the device allocation of %zu bytes at %p", what, n, p, a->size,
           static_cast<void*>(a->ptr));
    return false;
  }
  return true;
}

}  // namespace emu

using namespace emu;

cudaError_t cudaMalloc(void** out, size_t size) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  for (cudaStream_t st : g_streams)
    if (st->capture && st->capture->mode != cudaStreamCaptureModeRelaxed)
      report("WARNING: cudaMalloc during a non-relaxed graph capture (CUDA allows it only in relaxed mode)");
  if (size > (size_t(64) << 30)) return cudaErrorMemoryAllocation;
  size_t need = (std::max<size_t>(size, 1) + 255) / 256 * 256;
  size_t data_pages = (need + g_page - 1) / g_page * g_page;
  size_t total = data_pages + g_page;
  char* base = static_cast<char*>(mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (base == MAP_FAILED) return cudaErrorMemoryAllocation;
  mprotect(base + data_pages, g_page, PROT_NONE);
  Alloc a{base, total, base + data_pages - need, size, data_pages, base};
  // Fresh device memory is garbage, not zeros: fill with a NaN pattern.
  std::memset(a.ptr, 0xFF, need);
  g_device[reinterpret_cast<uintptr_t>(a.ptr)] = a;
  if (g_access_depth == 0) set_access(a, false);
  *out = a.ptr;
  g_detail = std::to_string(size) + " bytes";
  trace_host("malloc", "cudaMalloc", nullptr);
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!p) return cudaSuccess;
  auto it = g_device.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_device.end()) {
    report("cudaFree(%p): not a device allocation", p);
    return cudaErrorInvalidValue;
  }
  g_detail = std::to_string(it->second.size) + " bytes";
  trace_host("free", "cudaFree", nullptr);
  munmap(it->second.map_base, it->second.map_size);
  g_device.erase(it);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t size, unsigned int) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  *p = std::malloc(std::max<size_t>(size, 1));
  g_pinned[reinterpret_cast<uintptr_t>(*p)] = size;
  g_detail = std::to_string(size) + " bytes";
  trace_host("malloc", "cudaHostAlloc", nullptr);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t size) { return cudaHostAlloc(p, size, 0); }
cudaError_t cudaFreeHost(void* p) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  auto it = g_pinned.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_pinned.end()) {
    report("cudaFreeHost(%p): not from cudaHostAlloc", p);
    return cudaErrorInvalidValue;
  }
  g_detail = std::to_string(it->second) + " bytes";
  trace_host("free", "cudaFreeHost", nullptr);
  g_pinned.erase(it);
  std::free(p);
  return cudaSuccess;
}
