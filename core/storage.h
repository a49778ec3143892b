// Storage: one reference-counted block of memory that any number of tensor views share.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <ember/core/allocator.h>

namespace ember {

class Storage {
 public:
  Storage(Device device, size_t nbytes) : data_(allocate(device, nbytes)), nbytes_(nbytes) {}
  // Adopts memory owned elsewhere (e.g. a user's buffer with its own deleter).
  Storage(DataPtr data, size_t nbytes) : data_(std::move(data)), nbytes_(nbytes) {}

  void* data() const { return data_.get(); }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return data_.device(); }

  // Advanced by every in-place write through any view of this storage (Tensor::bump_version).
  // Autograd notes it when a backward function saves a tensor and refuses to run that function
  // once it moved: the saved values are no longer the ones the forward used.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  DataPtr data_;
  size_t nbytes_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace ember
