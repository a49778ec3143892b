#include <ember/core/allocator.h>
#include <ember/core/cuda.h>
#include <ember/core/error.h>

#include <cstdlib>

namespace ember {

namespace {
constexpr size_t kCpuAlignment = 64;  // a cache line, and enough for AVX-512 loads

DataPtr allocate_cpu(size_t nbytes) {
  size_t rounded = (std::max<size_t>(nbytes, 1) + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  void* ptr = std::aligned_alloc(kCpuAlignment, rounded);
  EMBER_CHECK(ptr != nullptr, "out of host memory allocating ", nbytes, " bytes");
  return DataPtr(ptr, kCPU, [](void* p) { std::free(p); });
}
}  // namespace

DataPtr allocate(Device device, size_t nbytes) {
  if (device.is_cpu()) return allocate_cpu(nbytes);
  return cuda::detail::allocate_device(device.index, nbytes);
}

DataPtr allocate_pinned_host(size_t nbytes) {
  if (cuda::is_available()) return cuda::detail::allocate_pinned(nbytes);
  return allocate_cpu(nbytes);
}

}  // namespace ember
