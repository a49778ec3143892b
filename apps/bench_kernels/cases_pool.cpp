// Max pooling 2x2 stride 2, forward and backward: a sweep over 32x32 planes and the MNIST Net's
// two pooling layers (after conv1: 100x10x24x24, after conv2: 100x20x8x8). The fused
// pool + relu forward (kernels/fused.h) is timed beside the plain one.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/fused.h>
#include <ember/kernels/pool.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

using ember::kernels::PoolParams;

ember::Shape pooled(const ember::Shape& x) { return {x[0], x[1], x[2] / 2, x[3] / 2}; }

// Forward reads x and writes the pooled values and their int64 indices.
double forward_bytes(const ember::Shape& x) {
  int64_t out = ember::shape_numel(pooled(x));
  return f32_bytes(ember::shape_numel(x)) + f32_bytes(out) + i64_bytes(out);
}

BenchCase forward_case(const ember::Shape& x_shape, bool fused_relu) {
  BenchCase c;
  c.name = fused_relu ? "max_pool2d_relu_fwd" : "max_pool2d_fwd";
  c.family = fused_relu ? "fused" : "pool";
  c.shape = shape_label(x_shape);
  c.size = ember::shape_numel(x_shape);
  c.bytes = forward_bytes(x_shape);
  ember::Shape out_shape = pooled(x_shape);
  c.make = [x_shape, out_shape](uint64_t seed) {
    return TensorList{random_nonzero(x_shape, seed), ember::empty(out_shape), ember::empty(out_shape, ember::kInt64)};
  };
  if (fused_relu) {
    c.run = [](const TensorList& t) {
      EMBER_KERNEL(t[0].device(), max_pool2d_relu_forward, t[0], Tensor(), t[1], t[2], PoolParams{});
    };
  } else {
    c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), max_pool2d_forward, t[0], t[1], t[2], PoolParams{}); };
  }
  c.outputs = {1, 2};
  c.rtol = 0;
  c.atol = 0;
  return c;
}

BenchCase backward_case(const ember::Shape& x_shape) {
  BenchCase c;
  c.name = "max_pool2d_bwd";
  c.family = "pool";
  c.shape = shape_label(x_shape);
  c.size = ember::shape_numel(x_shape);
  c.bytes = forward_bytes(x_shape);  // read grad_out and indices, write grad_x: the same traffic
  ember::Shape out_shape = pooled(x_shape);
  c.make = [x_shape, out_shape](uint64_t seed) {
    // Indices from a real forward pass, so the scatter pattern is the one training sees.
    Tensor out = ember::empty(out_shape), indices = ember::empty(out_shape, ember::kInt64);
    ember::kernels::cpu::max_pool2d_forward(random_nonzero(x_shape, seed + 1), out, indices, PoolParams{});
    return TensorList{random_nonzero(out_shape, seed), indices, ember::empty(x_shape)};
  };
  c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), max_pool2d_backward, t[0], t[1], t[2], PoolParams{}); };
  c.outputs = {2};
  c.rtol = 0;
  c.atol = 0;
  return c;
}

std::vector<ember::Shape> pool_shapes(const CaseOptions& options) {
  std::vector<ember::Shape> shapes;
  for (int64_t n : options.sizes) {
    int64_t planes = std::max<int64_t>(1, n / 1024);
    int64_t channels = std::min<int64_t>(planes, 16);
    shapes.push_back({planes / channels, channels, 32, 32});
  }
  shapes.push_back({100, 10, 24, 24});  // the Net, after conv1
  shapes.push_back({100, 20, 8, 8});    // the Net, after conv2
  return shapes;
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  std::vector<ember::Shape> shapes = pool_shapes(options);
  for (const auto& s : shapes) cases.push_back(forward_case(s, false));
  for (const auto& s : shapes) cases.push_back(backward_case(s));
  for (const auto& s : shapes) cases.push_back(forward_case(s, true));
}

const bool registered = register_family("pool", build);

}  // namespace
}  // namespace bench
