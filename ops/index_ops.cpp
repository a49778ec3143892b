// index_select and cat.
//   d index_select(a, dim, index) = index_add of g into zeros of a's shape (repeats accumulate)
//   d cat(tensors, dim)           = g narrowed back to each input's slice of dim
#include <algorithm>

#include <ember/kernels/dispatch.h>
#include <ember/kernels/index.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

struct Around {
  int64_t outer = 1, inner = 1;
};
Around around(const Shape& sizes, int64_t d) {
  Around a;
  for (int64_t k = 0; k < static_cast<int64_t>(sizes.size()); ++k) {
    if (k < d) a.outer *= sizes[k];
    if (k > d) a.inner *= sizes[k];
  }
  return a;
}

class IndexSelectBackward : public autograd::Node {
 public:
  IndexSelectBackward(Shape input_shape, int64_t dim, const Tensor& index)
      : input_shape_(std::move(input_shape)), dim_(dim), index_(save(index)) {}
  std::string name() const override { return "IndexSelectBackward"; }
  void release_saved() override { index_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    check_not_released();
    Tensor g = grads[0].contiguous();
    Tensor grad_in = zeros(input_shape_, TensorOptions(g.dtype()).with_device(g.device()));
    Around a = around(input_shape_, dim_);
    if (g.numel() > 0) EMBER_KERNEL(g.device(), index_add, g, index_, grad_in, a.outer, a.inner);
    return {grad_in};
  }

 private:
  Shape input_shape_;
  int64_t dim_;
  Tensor index_;
};

class CatBackward : public autograd::Node {
 public:
  CatBackward(int64_t dim, std::vector<int64_t> lengths) : dim_(dim), lengths_(std::move(lengths)) {}
  std::string name() const override { return "CatBackward"; }
  TensorList apply(TensorList&& grads) override {
    TensorList out;
    int64_t start = 0;
    for (size_t k = 0; k < lengths_.size(); ++k) {
      out.push_back(needs_input_grad(k) ? grads[0].narrow(dim_, start, lengths_[k]) : Tensor());
      start += lengths_[k];
    }
    return out;
  }

 private:
  int64_t dim_;
  std::vector<int64_t> lengths_;
};

}  // namespace

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  EMBER_CHECK(a.defined() && index.defined(), "index_select: input and index must be defined");
  EMBER_CHECK(a.dim() > 0, "index_select: expected a tensor with at least one dim, got ", a.str());
  int64_t d = wrap_dim(dim, a.dim(), "index_select");
  EMBER_CHECK(index.dtype() == kInt64 && index.dim() == 1, "index_select: expected a 1-d int64 index, got ",
              index.str());
  EMBER_CHECK(index.device() == a.device(), "index_select: expected input and index on one device, got ",
              ops::describe({{"input", &a}, {"index", &index}}));
  // A CPU index is range-checked here; a CUDA index is checked by the kernel (reading it back
  // would synchronise every batch gather of a training loop: see kernels/cuda/index.cu).
  if (index.is_cpu()) {
    const Tensor held = index.contiguous();
    const int64_t* picks = held.data<int64_t>();
    for (int64_t k = 0; k < index.numel(); ++k)
      EMBER_CHECK(picks[k] >= 0 && picks[k] < a.size(d), "index_select: index[", k, "] = ", picks[k],
                  " is out of range for dim ", d, " of ", a.str());
  }
  Shape out_shape = a.sizes();
  out_shape[d] = index.numel();
  Tensor out = ops::empty_as(a, out_shape);
  Tensor idx = index.contiguous();
  Around around_d = around(a.sizes(), d);
  if (out.numel() > 0)
    EMBER_KERNEL(a.device(), index_select, a.detach().contiguous(), idx, out, around_d.outer, around_d.inner);
  if (!autograd::any_requires_grad({a})) return out;
  ops::check_floating("index_select (backward)", a);
  return autograd::record(std::make_shared<IndexSelectBackward>(a.sizes(), d, idx), {a}, out);
}

Tensor cat(const TensorList& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  EMBER_CHECK(first.defined(), "cat: tensor 0 is undefined");
  EMBER_CHECK(first.dim() > 0, "cat: expected tensors with at least one dim, got ", first.str());
  int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.sizes();
  out_shape[d] = 0;
  std::vector<int64_t> lengths;
  for (size_t k = 0; k < tensors.size(); ++k) {
    const Tensor& t = tensors[k];
    EMBER_CHECK(t.defined(), "cat: tensor ", k, " is undefined");
    ops::check_same_device_dtype("cat", {{"tensors[0]", &first}, {"tensors[k]", &t}});
    bool same = t.dim() == first.dim();
    for (int64_t j = 0; same && j < t.dim(); ++j) same = j == d || t.size(j) == first.size(j);
    EMBER_CHECK(same, "cat: tensor ", k, " ", t.str(), " does not match tensor 0 ", first.str(), " outside dim ", d);
    lengths.push_back(t.size(d));
    out_shape[d] += t.size(d);
  }
  Tensor out = ops::empty_as(first, out_shape);
  int64_t start = 0;
  for (size_t k = 0; k < tensors.size(); ++k) {
    if (lengths[k] > 0) out.narrow(d, start, lengths[k]).copy_(tensors[k].detach());
    start += lengths[k];
  }
  if (!autograd::any_requires_grad(tensors)) return out;
  return autograd::record(std::make_shared<CatBackward>(d, lengths), tensors, out);
}

}  // namespace ember
