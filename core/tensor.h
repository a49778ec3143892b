// Tensor: a strided view of a reference-counted Storage, plus the autograd metadata that ties it
// into the graph. Copying a Tensor copies a handle (like torch::Tensor), never the data.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <ember/core/device.h>
#include <ember/core/dtype.h>
#include <ember/core/shape.h>
#include <ember/core/storage.h>

namespace ember {

namespace autograd {
class Node;
}

class Tensor;
using TensorList = std::vector<Tensor>;
// Called with the leaf after its .grad has been updated by backward (see register_grad_hook).
using GradHook = std::function<void(const Tensor& leaf)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Shape strides;         // in elements
  int64_t offset = 0;    // in elements, into storage
  DType dtype = kFloat32;

  // Autograd: a leaf that requires grad has no grad_fn; a non-leaf has the node that made it.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
  uint32_t output_nr = 0;                             // which output of grad_fn this is
  std::weak_ptr<autograd::Node> grad_accumulator;     // leaves: made on first use
  std::vector<GradHook> grad_hooks;                   // leaves: run after accumulation
  std::string name;                                   // optional, for error messages
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& sizes() const { return impl().sizes; }
  const Shape& strides() const { return impl().strides; }
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(impl().sizes.size()); }
  int64_t numel() const { return shape_numel(impl().sizes); }
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_cuda() const { return device().is_cuda(); }
  bool is_cpu() const { return device().is_cpu(); }
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  std::string str() const;  // "Tensor[2, 3] float32 cpu"

  // Raw pointer to the first element (storage + offset).
  void* data_ptr() const;
  template <typename T>
  T* data() const {
    check_dtype(dtype_of<T>::value);
    return static_cast<T*>(data_ptr());
  }
  // The single value of a one-element tensor, as double (synchronises for CUDA tensors).
  double item() const;
  // Integer T reads an int64 tensor exactly (a double holds integers up to 2^53 only) and refuses
  // a value T cannot hold; bool is whether the value is nonzero.
  template <typename T>
  T item() const {
    if constexpr (std::is_same_v<T, bool>) {
      return item() != 0.0;
    } else if constexpr (std::is_integral_v<T>) {
      const int64_t value = item_int64();
      check_item_fits(value, static_cast<int64_t>(std::numeric_limits<T>::min()),
                      std::is_unsigned_v<T> && sizeof(T) == 8 ? INT64_MAX
                                                              : static_cast<int64_t>(std::numeric_limits<T>::max()));
      return static_cast<T>(value);
    } else {
      return static_cast<T>(item());
    }
  }
  // Contents as a host vector of T (converting the dtype), in logical (row-major) order.
  template <typename T>
  std::vector<T> to_vector() const;

  // ---- views (differentiable; share storage) ----
  Tensor view(const Shape& sizes) const;
  Tensor reshape(const Shape& sizes) const;  // a view when possible, else a copy
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // a matrix transposed; 0-d and 1-d tensors unchanged (torch's t())
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& sizes) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor contiguous() const;  // self when already contiguous

  // ---- copies and conversions ----
  Tensor to(Device device, bool non_blocking = false) const;
  Tensor to(DType dtype) const;
  Tensor clone() const;
  // In place (not recorded by autograd; refused on tensors that need grad while grad mode is on,
  // and where elements of the written tensor, or of it and its source, share memory in a way the
  // result would depend on: an expanded view, or a shifted view of the source's storage).
  Tensor& copy_(const Tensor& src, bool non_blocking = false);
  Tensor& fill_(double value);
  Tensor& zero_();
  // The version of this tensor's storage, advanced by each in-place write (torch's `_version`).
  uint64_t version() const { return storage()->version(); }
  // Marks the storage written: call after writing through data_ptr() yourself, so that autograd
  // refuses a backward that saved these values (the library's in-place ops call it for you).
  void bump_version() const { storage()->bump_version(); }

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool requires_grad);
  Tensor& requires_grad_(bool requires_grad = true) { return set_requires_grad(requires_grad); }  // torch's spelling
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  // Backpropagates from this tensor. A non-scalar needs an explicit gradient of its shape.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  // Shares storage, cut from the graph.
  Tensor detach() const;
  // Leaf tensors: hook(leaf) runs after backward has accumulated into leaf.grad().
  void register_grad_hook(GradHook hook) const;
  Tensor& set_name(const std::string& name);
  const std::string& name() const { return impl().name; }

  // ---- arithmetic (ops/, with autograd) ----
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor add_(const Tensor& other, double alpha = 1.0);  // in place, no autograd
  Tensor add_(double value);                            // in place, no autograd
  Tensor mul_(double value);                            // in place, no autograd
  Tensor div_(double value);                            // in place, no autograd
  // Method forms of ops/ops.h functions, as libtorch spells them (ops/tensor_methods.cpp).
  Tensor exp() const;
  Tensor log() const;
  Tensor pow(double exponent) const;
  Tensor relu() const;
  Tensor abs() const;
  Tensor clamp(double min, double max) const;
  Tensor matmul(const Tensor& other) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor view_as(const Tensor& other) const { return view(other.sizes()); }
  Tensor squeeze() const;  // every dim of size 1

 private:
  void check_dtype(DType expected) const;
  int64_t item_int64() const;
  void check_item_fits(int64_t value, int64_t lowest, int64_t highest) const;
  std::shared_ptr<TensorImpl> impl_;
};

// Prints the header (t.str(), and ", requires_grad") and the values as nested rows, PyTorch-style:
// one width for all, 4 decimals (or scientific when magnitudes call for it), and only the first
// and last 3 entries of each dim beyond 1000 elements (core/tensor_print.cpp).
std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- factories ----
struct TensorOptions {
  DType dtype = kFloat32;
  Device device = kCPU;
  bool requires_grad = false;
  TensorOptions() = default;
  TensorOptions(DType d) : dtype(d) {}   // NOLINT: implicit, so empty(s, kFloat64) reads well
  TensorOptions(Device d) : device(d) {} // NOLINT
  TensorOptions& with_dtype(DType d) { dtype = d; return *this; }
  TensorOptions& with_device(Device d) { device = d; return *this; }
  TensorOptions& with_requires_grad(bool r = true) { requires_grad = r; return *this; }
};

Tensor empty(const Shape& sizes, TensorOptions options = {});
Tensor zeros(const Shape& sizes, TensorOptions options = {});
Tensor ones(const Shape& sizes, TensorOptions options = {});
Tensor full(const Shape& sizes, double value, TensorOptions options = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// [start, end) with step, like torch.arange.
Tensor arange(double start, double end, double step = 1.0, TensorOptions options = {kInt64});
// Copies count values of T from host memory into a new tensor of dtype T on the given device.
// (The default options keep T's dtype; pass options to convert.)
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& sizes,
                   TensorOptions options = TensorOptions(dtype_of<T>::value));
// Copies from a raw host buffer of the given dtype.
Tensor from_blob(const void* host_data, const Shape& sizes, DType dtype, Device device = kCPU);
// A 0-dim tensor holding value.
Tensor scalar_tensor(double value, TensorOptions options = {});

namespace detail {
// A new view on t's storage with the given geometry (no autograd; ops/view_ops wraps this).
Tensor make_view(const Tensor& t, const Shape& sizes, const Shape& strides, int64_t offset);
// The start of every in-place write to t by `op`: refuses it on a tensor that needs grad while
// grad mode is on (in-place writes are not recorded by autograd) and, unless `repeated_writes_ok`
// (a fill writes one value however often), on a view whose elements share memory; then bumps
// t's version.
void begin_inplace_write(const Tensor& t, const char* op, bool repeated_writes_ok = false);
}  // namespace detail

}  // namespace ember
