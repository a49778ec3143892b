// A custom differentiable op written outside Ember: softplus(x) = log(1 + e^x), whose derivative is
// sigmoid(x). The forward is a plain loop over host memory (your own kernel would go here); the
// backward is an autograd::Node that saves its input. The analytic gradient is then checked against
// central finite differences, the way Ember's own tests check every op.
#include <ember/ember.h>

#include <cmath>
#include <cstdio>
#include <memory>

using namespace ember;

namespace {

// The backward node: grad_x = grad_y * sigmoid(x).
class SoftplusBackward : public autograd::Node {
 public:
  // save(): detached (no reference cycle) and watched for in-place writes before backward.
  explicit SoftplusBackward(const Tensor& x) : x_(save(x)) {}
  std::string name() const override { return "SoftplusBackward"; }
  void release_saved() override { x_ = Tensor(); }
  TensorList apply(TensorList&& grads) override {
    check_not_released();  // a second backward without retain_graph must fail clearly
    if (!needs_input_grad(0)) return {Tensor()};
    // Backward runs with grad mode off, so these ops record nothing.
    return {mul(grads[0], sigmoid(x_))};
  }

 private:
  Tensor x_;
};

// The forward: checks its input like a library op, computes on the CPU, records the node.
Tensor softplus(const Tensor& x) {
  EMBER_CHECK(is_floating(x.dtype()), "softplus: expected a floating tensor, got ", x.str());
  Tensor in = x.detach().to(kCPU).to(kFloat64).contiguous();
  Tensor out = empty(in.sizes(), kFloat64);
  const double* src = in.data<double>();
  double* dst = out.data<double>();
  for (int64_t i = 0; i < in.numel(); ++i) {
    // log1p(e^x) for x <= 0, x + log1p(e^-x) otherwise: never overflows.
    dst[i] = src[i] > 0 ? src[i] + std::log1p(std::exp(-src[i])) : std::log1p(std::exp(src[i]));
  }
  out = out.to(x.dtype()).to(x.device());
  if (!autograd::any_requires_grad({x})) return out;
  return autograd::record(std::make_shared<SoftplusBackward>(x), {x}, out);
}

}  // namespace

int main() {
  try {
    Generator gen(7);
    Tensor x = randn({4, 5}, kFloat64, &gen).set_requires_grad(true);
    Tensor w = rand({4, 5}, kFloat64, &gen);  // a fixed weighting, so every element matters

    // Analytic gradient of L(x) = sum(softplus(x) * w) through the custom node.
    Tensor loss = sum(mul(softplus(x), w));
    loss.backward();
    std::vector<double> analytic = x.grad().to_vector<double>();

    // Central differences on each element.
    const double eps = 1e-6;
    std::vector<double> values = x.detach().to_vector<double>();
    double worst = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      auto loss_at = [&](double v) {
        std::vector<double> perturbed = values;
        perturbed[i] = v;
        NoGradGuard no_grad;
        return sum(mul(softplus(from_vector(perturbed, x.sizes())), w)).item();
      };
      double numeric = (loss_at(values[i] + eps) - loss_at(values[i] - eps)) / (2 * eps);
      worst = std::max(worst, std::abs(numeric - analytic[i]));
    }
    std::printf("softplus: loss %.6f, max |analytic - numeric| gradient difference %.3g\n", loss.item(), worst);

    // A second backward through the freed graph is refused, as for built-in ops.
    bool refused = false;
    try {
      loss.backward();
    } catch (const Error& e) {
      refused = true;
      std::printf("second backward refused: %s\n", e.what());
    }
    if (worst > 1e-6 || !refused) {
      std::fprintf(stderr, "custom_op: gradient check FAILED\n");
      return 1;
    }
    std::printf("custom_op: gradient check passed\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_op: %s\n", e.what());
    return 1;
  }
}
