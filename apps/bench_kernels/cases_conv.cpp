// The MNIST Net's convolutions through Ember's conv kernels (cuDNN on the GPU, im2col + OpenBLAS
// on the CPU): conv1 100x1x28x28 * 10x1x5x5 and conv2 100x10x12x12 * 20x10x5x5, each forward,
// backward-data and backward-filter. FLOPs are 2 N K P Q C R S for each of the three. On the GPU
// each runs twice: with cuDNN's heuristic choice of algorithm and, as "<name>_timed", with the
// fastest algorithm found by timing them all (cuda::set_cudnn_benchmark, train_mnist's default).
#include <ember/core/cuda.h>
#include <ember/kernels/conv.h>
#include <ember/kernels/dispatch.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

struct ConvShape {
  std::string name;
  int64_t n, c, h, w, k, r, s;
  int64_t p() const { return h - r + 1; }
  int64_t q() const { return w - s + 1; }
  ember::Shape x() const { return {n, c, h, w}; }
  ember::Shape weight() const { return {k, c, r, s}; }
  ember::Shape out() const { return {n, k, p(), q()}; }
  double flops() const { return 2.0 * n * k * p() * q() * c * r * s; }
};

enum class Pass { Forward, BackwardData, BackwardFilter };

BenchCase conv_case(const ConvShape& cs, Pass pass, bool timed_choice) {
  static const char* const suffix[] = {"_fwd", "_bwd_data", "_bwd_filter"};
  BenchCase c;
  c.name = cs.name + suffix[static_cast<int>(pass)] + (timed_choice ? "_timed" : "");
  c.family = "conv";
  c.shape = shape_label(cs.x()) + "*" + shape_label(cs.weight());
  c.size = cs.n;
  c.bound = Bound::Compute;
  c.flops = cs.flops();
  c.bytes = f32_bytes(ember::shape_numel(cs.x()) + ember::shape_numel(cs.weight()) + ember::shape_numel(cs.out()));
  // Workload: x, weight, grad_out / out, and the written tensor last.
  c.make = [cs, pass](uint64_t seed) {
    Tensor x = random_nonzero(cs.x(), seed), weight = random_nonzero(cs.weight(), seed + 1);
    switch (pass) {
      case Pass::Forward: return TensorList{x, weight, random_nonzero({cs.k}, seed + 2), ember::empty(cs.out())};
      case Pass::BackwardData: return TensorList{random_nonzero(cs.out(), seed + 2), weight, ember::empty(cs.x())};
      case Pass::BackwardFilter: return TensorList{random_nonzero(cs.out(), seed + 2), x, ember::empty(cs.weight())};
    }
    return TensorList{};
  };
  double terms = 0;  // products summed into each output, for the tolerance
  switch (pass) {
    case Pass::Forward:
      c.run = [](const TensorList& t) {
        EMBER_KERNEL(t[0].device(), conv2d_forward, t[0], t[1], t[2], t[3], ember::Conv2dParams{});
      };
      c.outputs = {3};
      terms = static_cast<double>(cs.c * cs.r * cs.s);
      break;
    case Pass::BackwardData:
      c.run = [](const TensorList& t) {
        EMBER_KERNEL(t[0].device(), conv2d_backward_data, t[0], t[1], t[2], ember::Conv2dParams{});
      };
      c.outputs = {2};
      terms = static_cast<double>(cs.k * cs.r * cs.s);
      break;
    case Pass::BackwardFilter:
      c.run = [](const TensorList& t) {
        EMBER_KERNEL(t[0].device(), conv2d_backward_filter, t[0], t[1], t[2], ember::Conv2dParams{});
      };
      c.outputs = {2};
      terms = static_cast<double>(cs.n * cs.p() * cs.q());
      break;
  }
  c.rtol = 1e-4;
  c.atol = 5e-6 * terms;
  // The algorithm is chosen (and cached per mode) on the first call, which is a warm-up call.
  c.run = [run = c.run, timed_choice](const TensorList& t) {
    ember::cuda::set_cudnn_benchmark(timed_choice);
    run(t);
    ember::cuda::set_cudnn_benchmark(false);
  };
  return c;
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  const ConvShape shapes[] = {{"conv1", 100, 1, 28, 28, 10, 5, 5}, {"conv2", 100, 10, 12, 12, 20, 5, 5}};
  for (const auto& cs : shapes) {
    for (Pass pass : {Pass::Forward, Pass::BackwardData, Pass::BackwardFilter}) {
      cases.push_back(conv_case(cs, pass, false));
      if (options.cuda) cases.push_back(conv_case(cs, pass, true));
    }
  }
}

const bool registered = register_family("conv", build);

}  // namespace
}  // namespace bench
