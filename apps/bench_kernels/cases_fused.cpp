// Fused bias + relu, forward and backward, over (rows, 1024) features and at the MNIST Net's
// fc1 (100x50) and conv1 (100x10x24x24) outputs.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/fused.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

BenchCase forward_case(const ember::Shape& x_shape) {
  int64_t n = ember::shape_numel(x_shape), channels = x_shape[1];
  BenchCase c;
  c.name = "bias_relu_fwd";
  c.family = "fused";
  c.shape = shape_label(x_shape);
  c.size = n;
  c.bytes = 2 * f32_bytes(n) + f32_bytes(channels);
  c.make = [x_shape, channels](uint64_t seed) {
    return TensorList{random_nonzero(x_shape, seed), random_nonzero({channels}, seed + 1, 0.01f, 0.1f),
                      ember::empty(x_shape)};
  };
  c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), bias_relu_forward, t[0], t[1], t[2]); };
  c.outputs = {2};
  c.rtol = 1e-6;
  c.atol = 1e-7;
  return c;
}

BenchCase backward_case(const ember::Shape& x_shape) {
  int64_t n = ember::shape_numel(x_shape), channels = x_shape[1];
  BenchCase c;
  c.name = "bias_relu_bwd";
  c.family = "fused";
  c.shape = shape_label(x_shape);
  c.size = n;
  c.bytes = 3 * f32_bytes(n) + f32_bytes(channels);  // read grad_out and out, write grad_x and grad_bias
  c.make = [x_shape, channels](uint64_t seed) {
    Tensor x = random_nonzero(x_shape, seed + 1), bias = random_nonzero({channels}, seed + 2, 0.01f, 0.1f);
    Tensor out = ember::empty(x_shape);
    ember::kernels::cpu::bias_relu_forward(x, bias, out);
    return TensorList{random_nonzero(x_shape, seed), out, ember::empty(x_shape), ember::empty({channels})};
  };
  c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), bias_relu_backward, t[0], t[1], t[2], t[3]); };
  c.outputs = {2, 3};
  // grad_bias sums n / channels terms.
  c.rtol = 1e-4;
  c.atol = 1e-6 * static_cast<double>(n / channels);
  return c;
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  std::vector<ember::Shape> shapes;
  for (int64_t n : options.sizes) shapes.push_back(matrix_shape(n, 1024));
  shapes.push_back({100, 50});           // the Net's fc1
  shapes.push_back({100, 10, 24, 24});   // the Net's conv1
  for (const auto& s : shapes) cases.push_back(forward_case(s));
  for (const auto& s : shapes) cases.push_back(backward_case(s));
}

const bool registered = register_family("fused", build);

}  // namespace
}  // namespace bench
