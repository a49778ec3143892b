#include "test_support.h"

#include <cmath>
#include <sstream>

namespace ember::testing {

Tensor random_tensor(const Shape& sizes, uint64_t seed, double low, double high, DType dtype) {
  Generator gen(seed);
  return rand(sizes, TensorOptions(dtype), &gen) * (high - low) + low;
}

Tensor distinct_tensor(const Shape& sizes, uint64_t seed) {
  Generator gen(seed);
  int64_t n = shape_numel(sizes);
  Tensor perm = randperm(n, &gen).to(kFloat64);
  return ((perm + (0.5 - n / 2.0)) * (2.0 / n)).reshape(sizes);
}

bool all_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, std::string* why) {
  if (actual.sizes() != expected.sizes()) {
    if (why) *why = "shape " + shape_str(actual.sizes()) + " vs expected " + shape_str(expected.sizes());
    return false;
  }
  std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double worst = 0;
  size_t worst_at = 0;
  bool ok = true;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::abs(a[i] - e[i]);
    bool bad = !(err <= atol + rtol * std::abs(e[i]));
    if (bad && (ok || err > worst)) {
      worst = err;
      worst_at = i;
    }
    ok = ok && !bad;
  }
  if (!ok && why) {
    std::ostringstream s;
    s << "element " << worst_at << ": got " << a[worst_at] << ", expected " << e[worst_at] << " (|diff| " << worst
      << ", rtol " << rtol << ", atol " << atol << ")";
    *why = s.str();
  }
  return ok;
}

namespace {
Tensor weighted_sum(const Tensor& out, const Tensor& weights) { return sum(mul(out, weights)); }
}  // namespace

std::string gradcheck(const TensorFn& fn, const TensorList& inputs, GradcheckOptions options) {
  Tensor out = fn(inputs);
  Tensor weights = random_tensor(out.sizes(), 1234, 0.5, 1.5, out.dtype());
  for (const Tensor& t : inputs)
    if (t.requires_grad()) t.set_grad(Tensor());
  weighted_sum(out, weights).backward();

  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& input = inputs[k];
    if (!input.requires_grad()) continue;
    if (input.dtype() != kFloat64) return "gradcheck needs float64 inputs";
    Tensor analytic = input.grad();
    if (!analytic.defined()) return "input " + std::to_string(k) + " got no gradient";
    Tensor numeric = zeros(input.sizes(), kFloat64);
    // Perturb the input's storage element by element through a contiguous view of its values.
    Tensor values = input.detach();
    std::vector<double> flat = values.to_vector<double>();
    std::vector<double> numeric_flat(flat.size());
    for (size_t i = 0; i < flat.size(); ++i) {
      double saved = flat[i];
      auto evaluate = [&](double v) {
        flat[i] = v;
        Tensor perturbed = from_vector(flat, input.sizes(), kFloat64);
        TensorList args = inputs;
        args[k] = perturbed;
        NoGradGuard no_grad;
        return weighted_sum(fn(args), weights).item();
      };
      double plus = evaluate(saved + options.eps), minus = evaluate(saved - options.eps);
      flat[i] = saved;
      numeric_flat[i] = (plus - minus) / (2 * options.eps);
    }
    numeric = from_vector(numeric_flat, input.sizes(), kFloat64);
    std::string why;
    if (!all_close(analytic, numeric, options.rtol, options.atol, &why))
      return "input " + std::to_string(k) + ": analytic vs numeric gradient: " + why;
  }
  return "";
}

std::string compare_cuda_with_cpu(const TensorFn& fn, const TensorList& cpu_inputs, double rtol, double atol,
                                  DType dtype) {
  auto prepare = [&](Device device) {
    TensorList list;
    for (const Tensor& t : cpu_inputs) {
      Tensor c = is_floating(t.dtype()) ? t.detach().to(dtype).to(device) : t.detach().to(device);
      if (t.requires_grad()) c.set_requires_grad(true);
      list.push_back(c);
    }
    return list;
  };
  TensorList on_cpu = prepare(kCPU), on_cuda = prepare(cuda_device(0));
  Tensor out_cpu = fn(on_cpu), out_cuda = fn(on_cuda);
  std::string why;
  if (!all_close(out_cuda.to(kCPU), out_cpu, rtol, atol, &why)) return "forward: " + why;
  if (!out_cpu.requires_grad()) return "";
  Tensor weights = random_tensor(out_cpu.sizes(), 4321, 0.5, 1.5, out_cpu.dtype());
  weighted_sum(out_cpu, weights).backward();
  weighted_sum(out_cuda, weights.to(cuda_device(0))).backward();
  for (size_t k = 0; k < on_cpu.size(); ++k) {
    if (!on_cpu[k].requires_grad()) continue;
    if (!all_close(on_cuda[k].grad().to(kCPU), on_cpu[k].grad(), rtol, atol, &why))
      return "gradient of input " + std::to_string(k) + ": " + why;
  }
  return "";
}

const profiler::KernelStats* find_kernel_stats(const std::vector<profiler::KernelStats>& stats, const std::string& name) {
  for (const profiler::KernelStats& s : stats)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace ember::testing
