// Views: new geometry over the same storage, no data moved. Backward maps the gradient back to
// the input's geometry: view/reshape -> reshape back, permute -> inverse permute, narrow/slice/
// select -> scatter into zeros, expand -> sum over the expanded dims.
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

#include <numeric>

namespace ember {

namespace {

// Backward of any view op, given as a function of the incoming gradient.
class ViewBackward : public autograd::Node {
 public:
  using Fn = std::function<Tensor(const Tensor&)>;
  ViewBackward(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  TensorList apply(TensorList&& grads) override { return {fn_(grads[0])}; }

 private:
  std::string name_;
  Fn fn_;
};

Tensor record_view(const Tensor& input, Tensor view, const char* name, ViewBackward::Fn backward) {
  if (!autograd::any_requires_grad({input})) return view;
  return autograd::record(std::make_shared<ViewBackward>(name, std::move(backward)), {input}, std::move(view));
}

// Fills a -1 entry of `sizes` from numel, and checks the product.
Shape infer_size(const Shape& sizes, int64_t numel, const char* op) {
  Shape out = sizes;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      EMBER_CHECK(infer < 0, op, ": only one dimension can be -1, got ", shape_str(sizes));
      infer = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK(out[i] >= 0, op, ": invalid size ", shape_str(sizes));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    EMBER_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(sizes), " is invalid for ", numel, " elements");
    out[infer] = numel / known;
  }
  EMBER_CHECK(shape_numel(out) == numel, op, ": shape ", shape_str(sizes), " is invalid for input of ", numel, " elements");
  return out;
}

// Strides for viewing t as `sizes` without a copy, or empty when impossible (PyTorch's rule:
// each group of merged/split dims must be contiguous within itself).
Shape view_strides(const Tensor& t, const Shape& sizes) {
  if (t.is_contiguous()) return contiguous_strides(sizes);
  const Shape& old_sizes = t.sizes();
  const Shape& old_strides = t.strides();
  Shape strides(sizes.size());
  int64_t view_d = static_cast<int64_t>(sizes.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_sizes[d];
    if (d == 0 || (old_sizes[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || sizes[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return {};
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return {};
  return strides;
}

}  // namespace

Tensor Tensor::view(const Shape& sizes) const {
  Shape shape = infer_size(sizes, numel(), "view");
  Shape strides = view_strides(*this, shape);
  EMBER_CHECK(!strides.empty() || shape.empty(), "view: cannot view ", str(), " as ", shape_str(shape),
              " without a copy (the input is not contiguous); use reshape()");
  Shape input_sizes = this->sizes();
  return record_view(*this, detail::make_view(*this, shape, strides, offset()), "ViewBackward",
                     [input_sizes](const Tensor& g) { return g.reshape(input_sizes); });
}

Tensor Tensor::reshape(const Shape& sizes) const {
  Shape shape = infer_size(sizes, numel(), "reshape");
  if (!view_strides(*this, shape).empty() || shape.empty()) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  EMBER_CHECK(s <= e, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape shape(sizes().begin(), sizes().begin() + s);
  int64_t merged = 1;
  for (int64_t d = s; d <= e; ++d) merged *= sizes()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), sizes().begin() + e + 1, sizes().end());
  return reshape(shape);
}

Tensor Tensor::permute(const Shape& dims) const {
  EMBER_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: ", dims.size(), " dims given for ", str());
  Shape new_sizes(dim()), new_strides(dim()), inverse(dim());
  std::vector<bool> used(dim(), false);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    EMBER_CHECK(!used[d], "permute: repeated dim in ", shape_str(dims));
    used[d] = true;
    new_sizes[i] = sizes()[d];
    new_strides[i] = strides()[d];
    inverse[d] = i;
  }
  return record_view(*this, detail::make_view(*this, new_sizes, new_strides, offset()), "PermuteBackward",
                     [inverse](const Tensor& g) { return g.permute(inverse); });
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  if (dim() == 0) {  // dims 0 and -1 of a 0-d tensor name the tensor itself, as in PyTorch
    wrap_dim(dim0, 0, "transpose");
    wrap_dim(dim1, 0, "transpose");
    return permute({});
  }
  Shape dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(dim0, dim(), "transpose")], dims[wrap_dim(dim1, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::t() const {
  EMBER_CHECK(dim() <= 2, "t: expects a tensor of at most 2 dims, got ", str(), " (use transpose(d0, d1))");
  return dim() < 2 ? transpose(0, 0) : transpose(0, 1);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  EMBER_CHECK(dim() > 0, "slice: cannot be applied to a 0-d tensor ", str());
  d = wrap_dim(d, dim(), "slice");
  int64_t n = sizes()[d];
  EMBER_CHECK(step > 0, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape new_sizes = sizes(), new_strides = strides();
  new_sizes[d] = (end - start + step - 1) / step;
  new_strides[d] *= step;
  Shape input_sizes = sizes();
  return record_view(*this, detail::make_view(*this, new_sizes, new_strides, offset() + start * strides()[d]),
                     "SliceBackward", [input_sizes, d, start, end, step](const Tensor& g) {
                       Tensor full = zeros(input_sizes, TensorOptions(g.dtype()).with_device(g.device()));
                       full.slice(d, start, end, step).copy_(g);
                       return full;
                     });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  EMBER_CHECK(dim() > 0, "narrow: cannot be applied to a 0-d tensor ", str());
  int64_t w = wrap_dim(d, dim(), "narrow");
  // A negative start counts from the end, as in PyTorch.
  EMBER_CHECK(start >= -sizes()[w] && start <= sizes()[w], "narrow: start ", start, " out of range for dim ", d, " of ",
              str());
  if (start < 0) start += sizes()[w];
  EMBER_CHECK(length >= 0 && start + length <= sizes()[w], "narrow: range [", start, ", ", start + length,
              ") out of bounds for dim ", d, " of ", str());
  return slice(w, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  EMBER_CHECK(dim() > 0, "select: cannot be applied to a 0-d tensor ", str());
  int64_t w = wrap_dim(d, dim(), "select");
  int64_t n = sizes()[w];
  EMBER_CHECK(index >= -n && index < n, "select: index ", index, " out of range for dim ", d, " of ", str());
  if (index < 0) index += n;
  return narrow(w, index, 1).squeeze(w);
}

Tensor Tensor::expand(const Shape& new_sizes) const {
  Shape target = new_sizes;
  int64_t lead = static_cast<int64_t>(target.size()) - dim();
  EMBER_CHECK(lead >= 0, "expand: cannot expand ", str(), " to ", shape_str(new_sizes));
  for (int64_t i = 0; i < lead; ++i)
    EMBER_CHECK(target[i] >= 0, "expand: size ", target[i], " of new leading dim ", i, " in ", shape_str(new_sizes),
                " for ", str(), " (-1 keeps an existing dim only)");
  for (int64_t i = 0; i < dim(); ++i)
    if (target[lead + i] == -1) target[lead + i] = sizes()[i];
  // Always a new view: broadcast_view hands back the tensor itself for an unchanged shape, and
  // recording on it would give the input (a leaf, say) the expand's grad_fn, a cycle.
  Tensor view = target == sizes() ? detail::make_view(*this, sizes(), strides(), offset())
                                  : ops::broadcast_view(*this, target, "expand");
  Shape input_sizes = sizes();
  return record_view(*this, view, "ExpandBackward", [input_sizes](const Tensor& g) { return sum_to(g, input_sizes); });
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape new_sizes = sizes(), new_strides = strides();
  int64_t stride = d < dim() ? sizes()[d] * strides()[d] : 1;
  new_sizes.insert(new_sizes.begin() + d, 1);
  new_strides.insert(new_strides.begin() + d, stride);
  Shape input_sizes = sizes();
  return record_view(*this, detail::make_view(*this, new_sizes, new_strides, offset()), "UnsqueezeBackward",
                     [input_sizes](const Tensor& g) { return g.reshape(input_sizes); });
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (dim() == 0 || sizes()[d] != 1) return *this;
  Shape new_sizes = sizes(), new_strides = strides();
  new_sizes.erase(new_sizes.begin() + d);
  new_strides.erase(new_strides.begin() + d);
  Shape input_sizes = sizes();
  return record_view(*this, detail::make_view(*this, new_sizes, new_strides, offset()), "SqueezeBackward",
                     [input_sizes](const Tensor& g) { return g.reshape(input_sizes); });
}

}  // namespace ember
