#include <ember/ops/op_utils.h>

namespace ember::ops {

std::string describe(std::initializer_list<std::pair<const char*, const Tensor*>> tensors) {
  std::string out;
  for (const auto& [name, t] : tensors) {
    if (!out.empty()) out += ", ";
    out += std::string(name) + ": " + t->str();
  }
  return out;
}

void check_same_device_dtype(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> tensors) {
  const Tensor* first = nullptr;
  for (const auto& entry : tensors) {
    const Tensor* t = entry.second;
    EMBER_CHECK(t->defined(), op, ": argument '", entry.first, "' is undefined");
    if (!first) {
      first = t;
      continue;
    }
    EMBER_CHECK(t->device() == first->device(), op, ": expected all tensors on one device, got ", describe(tensors));
    EMBER_CHECK(t->dtype() == first->dtype(), op, ": expected all tensors of one dtype, got ", describe(tensors));
  }
}

void check_floating(const char* op, const Tensor& t) {
  EMBER_CHECK(is_floating(t.dtype()), op, ": expected a floating tensor (float32 or float64), got ", t.str());
}

void check_dim(const char* op, const Tensor& t, int64_t expected_dim, const char* layout) {
  EMBER_CHECK(t.dim() == expected_dim, op, ": expected a ", expected_dim, "-d tensor ", layout, ", got ", t.str());
}

Tensor empty_as(const Tensor& t, const Shape& sizes) {
  return empty(sizes, TensorOptions(t.dtype()).with_device(t.device()));
}

Tensor broadcast_view(const Tensor& t, const Shape& sizes, const char* op) {
  if (t.sizes() == sizes) return t;
  Shape strides(sizes.size(), 0);
  int64_t lead = static_cast<int64_t>(sizes.size()) - t.dim();
  EMBER_CHECK(lead >= 0, op, ": cannot broadcast ", shape_str(t.sizes()), " to ", shape_str(sizes));
  for (int64_t i = 0; i < t.dim(); ++i) {
    EMBER_CHECK(t.sizes()[i] == sizes[lead + i] || t.sizes()[i] == 1, op, ": cannot broadcast ",
                shape_str(t.sizes()), " to ", shape_str(sizes));
    strides[lead + i] = t.sizes()[i] == 1 ? 0 : t.strides()[i];
  }
  return detail::make_view(t, sizes, strides, t.offset());
}

}  // namespace ember::ops
