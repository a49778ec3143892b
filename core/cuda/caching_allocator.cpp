// The caching device allocator. Freed blocks go back to a free list keyed by (stream, size) on
// their device instead of to cudaFree, and a later request of a similar size on the same stream
// reuses them: after the first training step, every allocation is a cache hit.
//
// Sizes are rounded up (512 B granules up to 1 MiB, 2 MiB granules above) so that slightly
// different requests share blocks; a cached block is reused for a request of at least half its
// size. A block is only reused on the stream it was allocated on, which orders the reuse after
// every kernel that touched it there. A cuda::Graph gets a private pool for what it allocates while
// capturing (fresh blocks, or free ones of the general cache), so that nothing outside the graph
// takes the addresses its replays write to. On
// cudaMalloc failure the device's general cache is released and the call retried once.
#include <ember/core/cuda.h>
#include <ember/core/cuda_graph.h>
#include <ember/core/cuda/check.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace ember::cuda {

namespace {

size_t round_size(size_t nbytes) {
  constexpr size_t kSmall = 512, kLarge = 2u << 20, kSmallLimit = 1u << 20;
  nbytes = std::max<size_t>(nbytes, 1);
  size_t granule = nbytes <= kSmallLimit ? kSmall : kLarge;
  return (nbytes + granule - 1) / granule * granule;
}

struct Block {
  void* ptr;
  size_t size;
  cudaStream_t stream;
  int pool;  // 0: the general cache; else a cuda::Graph's private pool
};

// Free blocks are kept per (stream, pool).
struct FreeListKey {
  cudaStream_t stream;
  int pool;
  bool operator==(const FreeListKey& o) const { return stream == o.stream && pool == o.pool; }
};
struct FreeListKeyHash {
  size_t operator()(const FreeListKey& k) const {
    return std::hash<const void*>()(k.stream) ^ (std::hash<int>()(k.pool) << 1);
  }
};

class DeviceCache {
 public:
  void* allocate(int device, size_t nbytes, cudaStream_t stream) {
    size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.num_allocs;
    // A capture takes blocks from its own pool first, then from the general cache: a free general
    // block is unused, and once taken it belongs to the graph (it returns to the graph's pool), so
    // nothing outside reuses it. Recaptures thus recycle the blocks a dropped graph gave back.
    for (int pool : {active_pool_, 0}) {
      auto& free_list = free_[{stream, pool}];
      auto it = free_list.lower_bound(size);
      if (it != free_list.end() && it->first <= 2 * size) {
        void* ptr = it->second;
        live_[ptr] = {ptr, it->first, stream, active_pool_};
        stats_.allocated_bytes += it->first;
        ++stats_.cache_hits;
        free_list.erase(it);
        return ptr;
      }
      if (active_pool_ == 0) break;
    }
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cached_locked();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      EMBER_FAIL("CUDA out of memory on device ", device, " allocating ", nbytes, " bytes (", stats_.allocated_bytes,
                 " bytes in tensors, ", stats_.reserved_bytes, " reserved): ", cudaGetErrorString(status));
    }
    ++stats_.num_device_allocs;
    stats_.reserved_bytes += size;
    stats_.allocated_bytes += size;
    live_[ptr] = {ptr, size, stream, active_pool_};
    return ptr;
  }

  void release(void* ptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(ptr);
    if (it == live_.end()) return;  // never ours: nothing to do (destructors must not throw)
    Block block = it->second;
    live_.erase(it);
    stats_.allocated_bytes -= block.size;
    // A block of a graph that is gone joins the general cache.
    int pool = live_pools_.count(block.pool) ? block.pool : 0;
    free_[{block.stream, pool}].emplace(block.size, block.ptr);
  }

  // Private pools: while one is active, allocations are served from it alone, and its blocks are
  // reused only by allocations made while it is active (a CUDA graph replays into them).
  int begin_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    active_pool_ = next_pool_++;
    live_pools_.insert(active_pool_);
    return active_pool_;
  }
  void end_pool() {
    std::lock_guard<std::mutex> lock(mutex_);
    active_pool_ = 0;
  }
  void release_pool(int pool) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_pools_.erase(pool);
    if (active_pool_ == pool) active_pool_ = 0;
    for (auto it = free_.begin(); it != free_.end();) {
      if (it->first.pool != pool) {
        ++it;
        continue;
      }
      auto& general = free_[{it->first.stream, 0}];
      general.insert(it->second.begin(), it->second.end());
      it = free_.erase(it);
    }
  }

  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    AllocatorStats fresh;
    fresh.allocated_bytes = stats_.allocated_bytes;
    fresh.reserved_bytes = stats_.reserved_bytes;
    stats_ = fresh;
  }

 private:
  void release_cached_locked() {
    cudaDeviceSynchronize();  // a cached block may still be read by queued kernels
    for (auto it = free_.begin(); it != free_.end();) {
      if (it->first.pool != 0) {  // a live graph replays into these: keep them
        ++it;
        continue;
      }
      for (auto& [size, ptr] : it->second) {
        cudaFree(ptr);
        stats_.reserved_bytes -= size;
        ++stats_.num_device_frees;
      }
      it = free_.erase(it);
    }
  }

  std::mutex mutex_;
  std::unordered_map<FreeListKey, std::multimap<size_t, void*>, FreeListKeyHash> free_;
  int active_pool_ = 0, next_pool_ = 1;
  std::unordered_set<int> live_pools_;
  std::unordered_map<void*, Block> live_;
  AllocatorStats stats_;
};

constexpr int kMaxDevices = 64;

DeviceCache& cache(int device) {
  // Deliberately leaked: tensors freed during static destruction must still find their cache.
  static DeviceCache* caches = new DeviceCache[kMaxDevices];
  return caches[device];
}

}  // namespace

namespace detail {
DataPtr allocate_device(int device, size_t nbytes) {
  EMBER_CHECK(is_available(), "cannot allocate on cuda:", device, ": no CUDA device is available");
  EMBER_CHECK(device >= 0 && device < device_count(), "no CUDA device ", device, " (", device_count(), " present)");
  int previous = current_device();
  if (previous != device) EMBER_CUDA_CHECK(cudaSetDevice(device));
  void* ptr = nullptr;
  try {
    ptr = cache(device).allocate(device, nbytes, current_raw_stream(device));
  } catch (...) {
    if (previous != device) cudaSetDevice(previous);  // out of memory: give the caller its device back
    throw;
  }
  if (previous != device) EMBER_CUDA_CHECK(cudaSetDevice(previous));
  return DataPtr(ptr, cuda_device(device), [device](void* p) { cache(device).release(p); });
}
}  // namespace detail

namespace detail {
int begin_private_pool(int device) { return cache(device).begin_pool(); }
void end_private_pool(int device) { cache(device).end_pool(); }
void release_private_pool(int device, int pool) { cache(device).release_pool(pool); }
}  // namespace detail

AllocatorStats allocator_stats(int device) { return cache(device < 0 ? current_device() : device).stats(); }
void reset_allocator_stats(int device) { cache(device < 0 ? current_device() : device).reset_stats(); }
void empty_cache() {
  if (device_count() == 0) return;
  // release_cached synchronises and frees on the current device: make each cache's device current.
  int previous = current_device();
  for (int d = 0; d < device_count(); ++d) {
    EMBER_CUDA_CHECK(cudaSetDevice(d));
    cache(d).release_cached();
  }
  EMBER_CUDA_CHECK(cudaSetDevice(previous));
}

}  // namespace ember::cuda
