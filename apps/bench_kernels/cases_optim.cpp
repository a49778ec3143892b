// Fused optimizer updates over a parameter list: SGD with momentum and Adam, over 16 equal
// parameters totalling n elements, and over the MNIST Net's 8 parameters (21,840 elements).
#include <ember/kernels/dispatch.h>
#include <ember/kernels/optim.h>

#include <cmath>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

using ember::kernels::OptimSlot;

// Workload layout: for each parameter, param, grad, then `states` state tensors.
std::vector<OptimSlot> slots_of(const TensorList& t, int states, int step) {
  std::vector<OptimSlot> slots;
  size_t stride = 2 + static_cast<size_t>(states);
  for (size_t i = 0; i + stride <= t.size(); i += stride) {
    OptimSlot s;
    s.param = t[i];
    s.grad = t[i + 1];
    if (states >= 1) s.state1 = t[i + 2];
    if (states >= 2) s.state2 = t[i + 3];
    s.bias_correction1 = 1.0 - std::pow(0.9, step);
    s.bias_correction2 = 1.0 - std::pow(0.999, step);
    slots.push_back(std::move(s));
  }
  return slots;
}

BenchCase update_case(const std::string& name, const std::vector<int64_t>& param_sizes, bool adam) {
  int64_t total = 0;
  for (int64_t s : param_sizes) total += s;
  const int states = adam ? 2 : 1;
  BenchCase c;
  c.name = name;
  c.family = "optim";
  c.shape = std::to_string(param_sizes.size()) + " params";
  c.size = total;
  // SGD momentum: read p, g, b; write p, b. Adam: read p, g, m, v; write p, m, v.
  c.bytes = (adam ? 7 : 5) * f32_bytes(total);
  c.make = [param_sizes, states](uint64_t seed) {
    TensorList t;
    for (int64_t n : param_sizes) {
      t.push_back(random_nonzero({n}, seed++));                            // param
      t.push_back(random_nonzero({n}, seed++, 0.001f, 0.1f));              // grad
      t.push_back(random_nonzero({n}, seed++, 0.001f, 0.1f));              // momentum / exp_avg
      if (states == 2) t.push_back(random_nonzero({n}, seed++, 1e-6f, 1e-2f, false));  // exp_avg_sq >= 0
    }
    return t;
  };
  if (adam) {
    c.run = [](const TensorList& t) {
      ember::kernels::AdamHyper hyper;
      EMBER_KERNEL(t[0].device(), adam_update, slots_of(t, 2, 10), hyper);
    };
  } else {
    c.run = [](const TensorList& t) {
      ember::kernels::SgdHyper hyper;
      hyper.lr = 0.05;
      hyper.momentum = 0.9;
      EMBER_KERNEL(t[0].device(), sgd_update, slots_of(t, 1, 10), hyper);
    };
  }
  for (size_t i = 0; i < param_sizes.size(); ++i) {
    size_t base = i * (2 + static_cast<size_t>(states));
    c.outputs.push_back(base);          // param
    c.outputs.push_back(base + 2);      // state1
    if (adam) c.outputs.push_back(base + 3);
  }
  c.rtol = 1e-5;
  c.atol = 1e-6;
  return c;
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  // conv1.w, conv1.b, conv2.w, conv2.b, fc1.w, fc1.b, fc2.w, fc2.b
  const std::vector<int64_t> net{250, 10, 5000, 20, 16000, 50, 500, 10};
  for (bool adam : {false, true}) {
    const std::string name = adam ? "adam_update" : "sgd_update";
    for (int64_t n : options.sizes) cases.push_back(update_case(name, std::vector<int64_t>(16, std::max<int64_t>(1, n / 16)), adam));
    BenchCase c = update_case(name, net, adam);
    c.shape = "MNIST Net (8 params)";
    cases.push_back(std::move(c));
  }
}

const bool registered = register_family("optim", build);

}  // namespace
}  // namespace bench
