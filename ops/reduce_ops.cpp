// Reductions: sum and mean over any set of dims, max/argmax along one dim, and sum_to.
//   d sum  = g expanded back over the reduced dims
//   d mean = g / count, expanded back
//   d max  = g scattered to the (first) argmax, zero elsewhere
// Kernels reduce the middle axis of a contiguous [outer, reduce, inner] layout (kernels/reduce.h).
#include <algorithm>
#include <vector>

#include <ember/autograd/grad_mode.h>
#include <ember/kernels/dispatch.h>
#include <ember/kernels/reduce.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

using kernels::ReduceGeometry;

// Which dims of `t` are reduced; an empty list means all of them. A 0-d tensor takes dim 0 or -1
// and reduces to itself, as in PyTorch.
std::vector<bool> reduced_dims(const Tensor& t, const Shape& dims, const char* op) {
  std::vector<bool> mask(static_cast<size_t>(std::max<int64_t>(t.dim(), 1)), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, t.dim(), op);
    EMBER_CHECK(!mask[w], op, ": dim ", d, " appears twice in ", shape_str(dims), " for ", t.str());
    mask[w] = true;
  }
  if (t.dim() == 0) mask.clear();
  return mask;
}

// The input rearranged (without autograd) into the kernel layout, and the output shapes.
struct ReduceLayout {
  Tensor input;          // contiguous, [outer, reduce, inner] in memory
  ReduceGeometry geometry;
  Shape keepdim_shape;   // reduced dims kept as size 1
  Shape squeezed_shape;  // reduced dims removed
};

ReduceLayout layout_for(const Tensor& a, const std::vector<bool>& mask) {
  Tensor x = a.detach();
  ReduceLayout layout;
  int64_t n = x.dim(), first = -1, last = -1;
  for (int64_t d = 0; d < n; ++d) {
    layout.keepdim_shape.push_back(mask[d] ? 1 : x.size(d));
    if (!mask[d]) layout.squeezed_shape.push_back(x.size(d));
    if (mask[d]) {
      if (first < 0) first = d;
      last = d;
    }
  }
  bool one_block = true;
  for (int64_t d = first; first >= 0 && d <= last; ++d) one_block = one_block && mask[d];
  ReduceGeometry& g = layout.geometry;
  if (first < 0) {
    layout.input = x.contiguous();
    g.outer = x.numel();
  } else if (one_block) {
    // Reduced dims adjacent: the contiguous input already is [outer, reduce, inner].
    layout.input = x.contiguous();
    for (int64_t d = 0; d < n; ++d) (d < first ? g.outer : d <= last ? g.reduce : g.inner) *= x.size(d);
  } else {
    // Move the reduced dims last (kept ones keep their order) and copy: [outer, reduce, 1].
    Shape order;
    for (int64_t d = 0; d < n; ++d) {
      if (mask[d]) continue;
      order.push_back(d);
      g.outer *= x.size(d);
    }
    for (int64_t d = 0; d < n; ++d) {
      if (!mask[d]) continue;
      order.push_back(d);
      g.reduce *= x.size(d);
    }
    layout.input = x.permute(order).contiguous();
  }
  return layout;
}

class SumBackward : public autograd::Node {
 public:
  SumBackward(Shape input_shape, Shape keepdim_shape, double scale, bool is_mean)
      : input_shape_(std::move(input_shape)), keepdim_shape_(std::move(keepdim_shape)), scale_(scale), is_mean_(is_mean) {}
  std::string name() const override { return is_mean_ ? "MeanBackward" : "SumBackward"; }
  TensorList apply(TensorList&& grads) override {
    Tensor g = grads[0].reshape(keepdim_shape_);
    if (scale_ != 1.0) g = mul(g, scale_);
    return {g.expand(input_shape_)};
  }

 private:
  Shape input_shape_, keepdim_shape_;
  double scale_;
  bool is_mean_;
};

Tensor sum_impl(const Tensor& a, const Shape& dims, bool keepdim, bool is_mean) {
  const char* op = is_mean ? "mean" : "sum";
  EMBER_CHECK(a.defined(), op, ": argument 'self' is undefined");
  ops::check_floating(op, a);
  ReduceLayout layout = layout_for(a, reduced_dims(a, dims, op));
  const ReduceGeometry& g = layout.geometry;
  double scale = is_mean ? 1.0 / static_cast<double>(g.reduce) : 1.0;
  Tensor out = ops::empty_as(a, keepdim ? layout.keepdim_shape : layout.squeezed_shape);
  if (out.numel() > 0) EMBER_KERNEL(a.device(), sum_dim, layout.input, out, g, scale);
  if (!autograd::any_requires_grad({a})) return out;
  return autograd::record(std::make_shared<SumBackward>(a.sizes(), layout.keepdim_shape, scale, is_mean), {a}, out);
}

class MaxBackward : public autograd::Node {
 public:
  MaxBackward(Shape input_shape, ReduceGeometry geometry, const Tensor& indices)
      : input_shape_(std::move(input_shape)), geometry_(geometry), indices_(save(indices)) {}
  std::string name() const override { return "MaxBackward"; }
  void release_saved() override { indices_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    Tensor g = grads[0].contiguous();
    Tensor grad_in = ops::empty_as(g, input_shape_);
    if (grad_in.numel() > 0) EMBER_KERNEL(g.device(), max_dim_backward, g, indices_, grad_in, geometry_);
    return {grad_in};
  }

 private:
  Shape input_shape_;
  ReduceGeometry geometry_;
  Tensor indices_;
};

}  // namespace

Tensor sum(const Tensor& a) { return sum_impl(a, {}, false, false); }
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim) { return sum_impl(a, dims, keepdim, false); }
Tensor mean(const Tensor& a) { return sum_impl(a, {}, false, true); }
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim) { return sum_impl(a, dims, keepdim, true); }

Tensor Tensor::sum() const { return ember::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return ember::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return ember::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return ember::mean(*this, dims, keepdim); }

std::pair<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim) {
  EMBER_CHECK(a.defined(), "max: argument 'self' is undefined");
  ops::check_floating("max", a);
  if (a.dim() == 0) {  // dim 0 or -1 of a 0-d tensor: the value itself at index 0, as in PyTorch
    wrap_dim(dim, 0, "max");
    return max(a.reshape({1}), 0, /*keepdim=*/false);
  }
  int64_t d = wrap_dim(dim, a.dim(), "max");
  EMBER_CHECK(a.size(d) > 0, "max: cannot reduce dim ", dim, " of size 0 of ", a.str());
  ReduceLayout layout = layout_for(a, reduced_dims(a, {d}, "max"));
  const Shape& out_shape = keepdim ? layout.keepdim_shape : layout.squeezed_shape;
  Tensor values = ops::empty_as(a, out_shape);
  Tensor indices = empty(out_shape, TensorOptions(kInt64).with_device(a.device()));
  if (values.numel() > 0) EMBER_KERNEL(a.device(), max_dim, layout.input, values, indices, layout.geometry);
  if (autograd::any_requires_grad({a}))
    values = autograd::record(std::make_shared<MaxBackward>(a.sizes(), layout.geometry, indices), {a}, values);
  return {values, indices};
}

Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return max(a, dim, keepdim).second;
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (a.sizes() == shape) return a;  // the common case on the backward hot path: no work at all
  int64_t lead = a.dim() - static_cast<int64_t>(shape.size());
  EMBER_CHECK(lead >= 0, "sum_to: cannot sum ", a.str(), " down to ", shape_str(shape));
  Shape dims;
  for (int64_t d = 0; d < lead; ++d) dims.push_back(d);
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    int64_t from = a.size(lead + d);
    EMBER_CHECK(shape[d] == from || shape[d] == 1, "sum_to: cannot sum ", a.str(), " down to ", shape_str(shape));
    if (shape[d] == 1 && from != 1) dims.push_back(lead + d);
  }
  Tensor summed = dims.empty() ? a : sum(a, dims, /*keepdim=*/true);
  return summed.sizes() == shape ? summed : summed.reshape(shape);
}

}  // namespace ember
