// Allocation of raw tensor memory. The CPU allocator hands out 64-byte aligned blocks; the CUDA
// allocator is a caching allocator (core/cuda/caching_allocator.cpp) so that a training step in
// its steady state never calls cudaMalloc or cudaFree.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include <ember/core/device.h>

namespace ember {

// Owning pointer to device or host memory; the deleter returns it to where it came from.
class DataPtr {
 public:
  using Deleter = std::function<void(void*)>;
  DataPtr() = default;
  DataPtr(void* ptr, Device device, Deleter deleter)
      : ptr_(ptr), device_(device), deleter_(std::move(deleter)) {}
  DataPtr(DataPtr&& other) noexcept { swap(other); }
  DataPtr& operator=(DataPtr&& other) noexcept {
    DataPtr tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  DataPtr(const DataPtr&) = delete;
  DataPtr& operator=(const DataPtr&) = delete;
  ~DataPtr() {
    if (ptr_ && deleter_) deleter_(ptr_);
  }

  void* get() const { return ptr_; }
  Device device() const { return device_; }

 private:
  void swap(DataPtr& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(device_, o.device_);
    std::swap(deleter_, o.deleter_);
  }
  void* ptr_ = nullptr;
  Device device_{};
  Deleter deleter_;
};

// Allocates nbytes on the device (on CUDA: on the device's current stream).
DataPtr allocate(Device device, size_t nbytes);

// Page-locked host memory for fast, asynchronous host-device copies (plain memory without CUDA).
DataPtr allocate_pinned_host(size_t nbytes);

}  // namespace ember
