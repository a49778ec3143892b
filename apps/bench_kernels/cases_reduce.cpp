// Reductions: sum over the last dim (rows), over the first dim (columns), over everything, and
// max with argmax over the last dim.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/reduce.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

using ember::kernels::ReduceGeometry;

BenchCase sum_case(const std::string& name, const ember::Shape& shape, ReduceGeometry g) {
  int64_t n = g.outer * g.reduce * g.inner;
  int64_t out_elements = g.outer * g.inner;
  BenchCase c;
  c.name = name;
  c.family = "reduce";
  c.shape = shape_label(shape);
  c.size = n;
  c.bytes = f32_bytes(n) + f32_bytes(out_elements);
  c.make = [shape, out_elements](uint64_t seed) {
    return TensorList{random_nonzero(shape, seed), ember::empty({out_elements})};
  };
  c.run = [g](const TensorList& t) { EMBER_KERNEL(t[0].device(), sum_dim, t[0], t[1], g, 1.0); };
  c.outputs = {1};
  // A float32 sum of r terms of size <= 1 may drift by ~eps * r in the worst order.
  c.rtol = 1e-4;
  c.atol = 1e-6 * static_cast<double>(g.reduce);
  return c;
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  for (int64_t n : options.sizes) {
    ember::Shape shape = matrix_shape(n, 1024);
    cases.push_back(sum_case("sum_rows", shape, {shape[0], shape[1], 1}));
  }
  for (int64_t n : options.sizes) {
    ember::Shape shape = matrix_shape(n, 1024);
    cases.push_back(sum_case("sum_cols", shape, {1, shape[0], shape[1]}));
  }
  for (int64_t n : options.sizes) cases.push_back(sum_case("sum_all", {n}, {1, n, 1}));
  for (int64_t n : options.sizes) {
    ember::Shape shape = matrix_shape(n, 1024);
    int64_t rows = shape[0];
    ReduceGeometry g{rows, shape[1], 1};
    BenchCase c;
    c.name = "max_rows";
    c.family = "reduce";
    c.shape = shape_label(shape);
    c.size = shape[0] * shape[1];
    c.bytes = f32_bytes(c.size) + f32_bytes(rows) + i64_bytes(rows);
    c.make = [shape, rows](uint64_t seed) {
      return TensorList{random_nonzero(shape, seed), ember::empty({rows}), ember::empty({rows}, ember::kInt64)};
    };
    c.run = [g](const TensorList& t) { EMBER_KERNEL(t[0].device(), max_dim, t[0], t[1], t[2], g); };
    c.outputs = {1, 2};
    c.rtol = 0;
    c.atol = 0;
    cases.push_back(std::move(c));
  }
}

const bool registered = register_family("reduce", build);

}  // namespace
}  // namespace bench
