// Copy family: a contiguous copy and a transposing (strided-read) copy through kernels::copy.
#include <ember/kernels/copy.h>
#include <ember/kernels/dispatch.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  for (int64_t n : options.sizes) {
    BenchCase c;
    c.name = "copy";
    c.family = "copy";
    c.shape = shape_label({n});
    c.size = n;
    c.bytes = 2 * f32_bytes(n);
    c.make = [n](uint64_t seed) { return TensorList{random_nonzero({n}, seed), ember::empty({n})}; };
    c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), copy, t[0], t[1]); };
    c.outputs = {1};
    c.rtol = 0;
    c.atol = 0;
    cases.push_back(std::move(c));
  }
  for (int64_t n : options.sizes) {
    // A square-ish matrix, read through its transposed view and written contiguously.
    int64_t rows = 1;
    while (rows * rows * 4 <= n) rows *= 2;
    ember::Shape shape{rows, n / rows};
    BenchCase c;
    c.name = "transpose";
    c.family = "copy";
    c.shape = shape_label(shape) + "^T";
    c.size = shape[0] * shape[1];
    c.bytes = 2 * f32_bytes(c.size);
    c.make = [shape](uint64_t seed) {
      return TensorList{random_nonzero(shape, seed), ember::empty({shape[1], shape[0]})};
    };
    c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), copy, t[0].t(), t[1]); };
    c.outputs = {1};
    c.rtol = 0;
    c.atol = 0;
    cases.push_back(std::move(c));
  }
}

const bool registered = register_family("copy", build);

}  // namespace
}  // namespace bench
