// Differentiable copies: contiguous, clone, to(device), to(dtype). Each backward sends the
// gradient back through the inverse conversion.
#include <ember/autograd/grad_mode.h>
#include <ember/ops/op_utils.h>
#include <ember/ops/ops.h>

namespace ember {

namespace {

class CopyBackward : public autograd::Node {
 public:
  CopyBackward(Device device, DType dtype) : device_(device), dtype_(dtype) {}
  std::string name() const override { return "CopyBackward"; }
  TensorList apply(TensorList&& grads) override { return {grads[0].to(device_).to(dtype_)}; }

 private:
  Device device_;
  DType dtype_;
};

// A contiguous copy of t on `device` with `dtype`, recorded for autograd.
Tensor copy_to(const Tensor& t, Device device, DType dtype, bool non_blocking) {
  Tensor out = empty(t.sizes(), TensorOptions(dtype).with_device(device));
  {
    NoGradGuard no_grad;  // copy_ into a fresh tensor is not itself part of the graph
    out.copy_(t, non_blocking);
  }
  if (!autograd::any_requires_grad({t}) || !is_floating(dtype)) return out;
  return autograd::record(std::make_shared<CopyBackward>(t.device(), t.dtype()), {t}, out);
}

}  // namespace

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : copy_to(*this, device(), dtype(), false); }
Tensor Tensor::clone() const { return copy_to(*this, device(), dtype(), false); }
Tensor Tensor::to(Device device, bool non_blocking) const {
  return device == this->device() ? *this : copy_to(*this, device, dtype(), non_blocking);
}
Tensor Tensor::to(DType dtype) const { return dtype == this->dtype() ? *this : copy_to(*this, device(), dtype, false); }

}  // namespace ember
