// Storage: one reference-counted block of memory that any number of tensor views share.
#pragma once
#include <cstddef>
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

 private:
  DataPtr data_;
  size_t nbytes_;
};

}  // namespace ember
