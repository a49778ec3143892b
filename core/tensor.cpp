#include <ember/core/tensor.h>

#include <ember/autograd/engine.h>
#include <ember/autograd/grad_mode.h>
#include <ember/core/cuda.h>
#include <ember/core/error.h>
#include <ember/core/memory_overlap.h>
#include <ember/kernels/copy.h>
#include <ember/kernels/dispatch.h>

#include <cmath>
#include <cstring>
#include <iomanip>

namespace ember {

namespace {

std::shared_ptr<TensorImpl> new_impl(const Shape& sizes, DType dtype, Device device) {
  for (int64_t s : sizes) EMBER_CHECK(s >= 0, "cannot create a tensor with negative size ", shape_str(sizes));
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = sizes;
  impl->strides = contiguous_strides(sizes);
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(device, shape_numel(sizes) * element_size(dtype));
  return impl;
}

// Host<->device copy of a contiguous block; staged through pinned memory when asynchronous.
void copy_between_devices(const Tensor& src, const Tensor& dst, bool non_blocking);

}  // namespace

// ---------------------------------------------------------------- metadata

TensorImpl& Tensor::impl() const {
  EMBER_CHECK(impl_ != nullptr, "use of an undefined Tensor (default-constructed or moved-from: it has no data, "
              "shape or dtype)");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const {
  EMBER_CHECK(dim() > 0, "size: dim ", d, " asked of a 0-d tensor ", str());
  return sizes()[wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  EMBER_CHECK(dim() > 0, "stride: dim ", d, " asked of a 0-d tensor ", str());
  return strides()[wrap_dim(d, dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to be out of place (as in PyTorch)
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (sizes()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= sizes()[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return "Tensor" + shape_str(sizes()) + " " + dtype_name(dtype()) + " " + device().str();
}

void Tensor::check_dtype(DType expected) const {
  EMBER_CHECK(dtype() == expected, "data<", dtype_name(expected), ">() called on a ", str());
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * element_size(dtype());
}

double Tensor::item() const {
  EMBER_CHECK(defined(), "item(): called on an undefined Tensor");
  EMBER_CHECK(numel() == 1, "item(): expected a tensor with one element, got ", str());
  return to_vector<double>()[0];
}

int64_t Tensor::item_int64() const {
  EMBER_CHECK(defined(), "item(): called on an undefined Tensor");
  if (is_floating(dtype())) {  // item() checks the element count
    // A floating value truncates toward zero, as a C++ cast does, when an int64 can hold it.
    const double value = item();
    EMBER_CHECK(value >= -9223372036854775808.0 && value < 9223372036854775808.0, "item(): value ", value, " of ",
                str(), " does not fit an integer");
    return static_cast<int64_t>(value);
  }
  EMBER_CHECK(numel() == 1, "item(): expected a tensor with one element, got ", str());
  return to_vector<int64_t>()[0];
}

void Tensor::check_item_fits(int64_t value, int64_t lowest, int64_t highest) const {
  EMBER_CHECK(value >= lowest && value <= highest, "item(): value ", value, " of ", str(),
              " overflows the requested integer type [", lowest, ", ", highest, "]");
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(kCPU).to(dtype_of<T>::value).contiguous();
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

// ---------------------------------------------------------------- in-place writes

namespace detail {
void begin_inplace_write(const Tensor& t, const char* op, bool repeated_writes_ok) {
  EMBER_CHECK(t.defined(), op, ": the written-to tensor is undefined");
  EMBER_CHECK(!(autograd::GradMode::is_enabled() && t.requires_grad()), op,
              ": in-place write to a tensor that requires grad; wrap it in ember::NoGradGuard");
  if (!repeated_writes_ok) check_no_internal_overlap(t, op);
  t.bump_version();
}
}  // namespace detail

Tensor& Tensor::copy_(const Tensor& src, bool non_blocking) {
  EMBER_CHECK(src.defined(), "copy_: source is undefined");
  check_no_partial_overlap(*this, src, "copy_");
  detail::begin_inplace_write(*this, "copy_");
  Tensor source = src;
  if (src.sizes() != sizes()) {
    // Broadcast the source to our shape (a stride-0 view, no data moved).
    Shape b = broadcast_shapes(src.sizes(), sizes(), "copy_");
    EMBER_CHECK(b == sizes(), "copy_: source ", shape_str(src.sizes()), " does not broadcast to ",
                shape_str(sizes()));
    Shape strides(dim(), 0);
    int64_t lead = dim() - src.dim();
    for (int64_t i = 0; i < src.dim(); ++i)
      strides[lead + i] = src.sizes()[i] == 1 ? 0 : src.strides()[i];
    source = detail::make_view(src, sizes(), strides, src.offset());
  }
  if (source.device() == device()) {
    EMBER_KERNEL(device(), copy, source, *this);
  } else {
    copy_between_devices(source, *this, non_blocking);
  }
  return *this;
}

Tensor& Tensor::fill_(double value) {
  detail::begin_inplace_write(*this, "fill_", /*repeated_writes_ok=*/true);
  EMBER_KERNEL(device(), fill, *this, value);
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0.0); }

// ---------------------------------------------------------------- autograd accessors

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  EMBER_CHECK(!requires_grad || is_floating(dtype()), "requires_grad needs a floating dtype, got ", str());
  EMBER_CHECK(is_leaf() || requires_grad, "set_requires_grad(false) on a non-leaf tensor; use detach()");
  impl().requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(impl().grad); }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined()) {
    EMBER_CHECK(grad.sizes() == sizes() && grad.dtype() == dtype() && grad.device() == device(),
                "set_grad: gradient ", grad.str(), " does not match ", str());
  }
  impl().grad = grad.impl_ptr();
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->sizes = sizes();
  impl->strides = strides();
  impl->offset = offset();
  impl->dtype = dtype();
  return Tensor(impl);
}

void Tensor::register_grad_hook(GradHook hook) const {
  EMBER_CHECK(is_leaf() && requires_grad(), "register_grad_hook: only leaf tensors that require grad have hooks, got ", str());
  impl().grad_hooks.push_back(std::move(hook));
}

Tensor& Tensor::set_name(const std::string& name) {
  impl().name = name;
  return *this;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  EMBER_CHECK(defined(), "backward: called on an undefined Tensor");
  autograd::backward({*this}, {gradient}, retain_graph);
}

// ---------------------------------------------------------------- factories

Tensor empty(const Shape& sizes, TensorOptions options) {
  Tensor t(new_impl(sizes, options.dtype, options.device));
  if (options.requires_grad) t.set_requires_grad(true);
  return t;
}

Tensor full(const Shape& sizes, double value, TensorOptions options) {
  bool requires_grad = options.requires_grad;
  options.requires_grad = false;
  Tensor t = empty(sizes, options);
  EMBER_KERNEL(t.device(), fill, t, value);  // a new tensor starts at version 0, as in PyTorch
  return requires_grad ? t.set_requires_grad(true) : t;
}
Tensor zeros(const Shape& sizes, TensorOptions options) { return full(sizes, 0.0, options); }
Tensor ones(const Shape& sizes, TensorOptions options) { return full(sizes, 1.0, options); }
Tensor empty_like(const Tensor& t) { return empty(t.sizes(), TensorOptions(t.dtype()).with_device(t.device())); }
Tensor zeros_like(const Tensor& t) { return zeros(t.sizes(), TensorOptions(t.dtype()).with_device(t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.sizes(), TensorOptions(t.dtype()).with_device(t.device())); }

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor arange(double start, double end, double step, TensorOptions options) {
  EMBER_CHECK(step != 0 && (end - start) / step >= 0, "arange: bad range start=", start, " end=", end, " step=", step);
  int64_t n = static_cast<int64_t>(std::ceil((end - start) / step));
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = start + i * step;
  Tensor host = from_blob(values.data(), {n}, kFloat64).to(options.dtype);
  Tensor t = host.to(options.device);
  // As the other factories: an integer dtype with requires_grad is refused by set_requires_grad.
  if (options.requires_grad) t.set_requires_grad(true);
  return t;
}

Tensor from_blob(const void* host_data, const Shape& sizes, DType dtype, Device device) {
  Tensor host(new_impl(sizes, dtype, kCPU));
  if (host.nbytes()) std::memcpy(host.data_ptr(), host_data, host.nbytes());
  return device.is_cpu() ? host : host.to(device);
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& sizes, TensorOptions options) {
  EMBER_CHECK(static_cast<int64_t>(values.size()) == shape_numel(sizes), "from_vector: ", values.size(),
              " values for shape ", shape_str(sizes));
  Tensor t = from_blob(values.data(), sizes, dtype_of<T>::value, kCPU);
  if (options.dtype != t.dtype()) t = t.to(options.dtype);
  t = t.to(options.device);
  if (options.requires_grad) t.set_requires_grad(true);
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, TensorOptions);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&, TensorOptions);

namespace detail {
Tensor make_view(const Tensor& t, const Shape& sizes, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->sizes = sizes;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = t.dtype();
  return Tensor(impl);
}

}  // namespace detail

// ---------------------------------------------------------------- cross-device copies

namespace {
void copy_between_devices(const Tensor& src, const Tensor& dst, bool non_blocking) {
  // Bring both sides to a contiguous block of dst's dtype on their own device, then one memcpy.
  Tensor src_block = src.dtype() == dst.dtype() && src.is_contiguous()
                         ? src
                         : empty(src.sizes(), TensorOptions(dst.dtype()).with_device(src.device()));
  if (!src_block.is_same(src)) EMBER_KERNEL(src.device(), copy, src, src_block);
  Tensor dst_block = dst.is_contiguous() ? dst : empty_like(dst);
  int previous = -1;
  if (src_block.is_cuda() && dst_block.is_cuda()) {
    // GPU to GPU: the copy runs on dst's stream, which does not wait for src's producers on the
    // other device; finish them first. The stream (0: the legacy one) must be dst device's.
    cuda::synchronize(src_block.device().index);
    previous = cuda::current_device();
    cuda::set_device(dst_block.device().index);
  }
  cuda::detail::memcpy(dst_block.data_ptr(), dst_block.device(), src_block.data_ptr(), src_block.device(),
                       dst_block.nbytes(), non_blocking);
  if (previous >= 0) cuda::set_device(previous);
  if (!dst_block.is_same(dst)) EMBER_KERNEL(dst.device(), copy, dst_block, dst);
}
}  // namespace

}  // namespace ember
