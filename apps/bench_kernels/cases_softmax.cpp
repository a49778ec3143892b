// Softmax and log-softmax over rows of 1024 (forward and backward), and the fused cross-entropy
// (log-softmax + NLL) forward and backward at 10 classes (the MNIST Net) and 1000 classes.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/softmax.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

using ember::kernels::ReduceGeometry;

void add_softmax(const CaseOptions& options, std::vector<BenchCase>& cases, bool log) {
  const std::string base = log ? "log_softmax" : "softmax";
  for (int64_t n : options.sizes) {
    ember::Shape shape = matrix_shape(n, 1024);
    ReduceGeometry g{shape[0], shape[1], 1};
    int64_t elements = shape[0] * shape[1];
    BenchCase c;
    c.name = base + "_fwd";
    c.family = "softmax";
    c.shape = shape_label(shape);
    c.size = elements;
    c.bytes = 2 * f32_bytes(elements);
    c.make = [shape](uint64_t seed) { return TensorList{random_nonzero(shape, seed, 0.1f, 4.0f), ember::empty(shape)}; };
    c.run = [g, log](const TensorList& t) { EMBER_KERNEL(t[0].device(), softmax_forward, t[0], t[1], g, log); };
    c.outputs = {1};
    c.rtol = 1e-4;
    c.atol = 1e-6;
    cases.push_back(std::move(c));
  }
  for (int64_t n : options.sizes) {
    ember::Shape shape = matrix_shape(n, 1024);
    ReduceGeometry g{shape[0], shape[1], 1};
    int64_t elements = shape[0] * shape[1];
    BenchCase c;
    c.name = base + "_bwd";
    c.family = "softmax";
    c.shape = shape_label(shape);
    c.size = elements;
    c.bytes = 3 * f32_bytes(elements);  // read grad and y, write grad_in
    // y must be a real softmax output (rows summing to one) for the formula to mean anything.
    c.make = [shape, g, log](uint64_t seed) {
      Tensor x = random_nonzero(shape, seed + 1, 0.1f, 4.0f);
      Tensor y = ember::empty(shape);
      ember::kernels::cpu::softmax_forward(x, y, g, log);
      return TensorList{random_nonzero(shape, seed), y, ember::empty(shape)};
    };
    c.run = [g, log](const TensorList& t) {
      EMBER_KERNEL(t[0].device(), softmax_backward, t[0], t[1], t[2], g, log);
    };
    c.outputs = {2};
    c.rtol = 1e-4;
    c.atol = 1e-5;
    cases.push_back(std::move(c));
  }
}

void add_cross_entropy(const CaseOptions& options, std::vector<BenchCase>& cases, int64_t classes) {
  const std::string suffix = "_c" + std::to_string(classes);
  for (int64_t n : options.sizes) {
    int64_t rows = std::max<int64_t>(1, n / classes);
    ember::Shape shape{rows, classes};
    BenchCase c;
    c.name = "cross_entropy_fwd" + suffix;
    c.family = "cross_entropy";
    c.shape = shape_label(shape);
    c.size = rows * classes;  // the elements measured: n rounded down to whole rows, at least one
    c.bytes = f32_bytes(rows * classes) + i64_bytes(rows) + 2 * f32_bytes(rows);  // logits, targets -> loss, lse
    c.make = [shape, rows, classes](uint64_t seed) {
      return TensorList{random_nonzero(shape, seed, 0.1f, 4.0f), random_targets(rows, classes, seed),
                        ember::empty({rows}), ember::empty({rows})};
    };
    c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), cross_entropy_forward, t[0], t[1], t[2], t[3]); };
    c.outputs = {2, 3};
    c.rtol = 1e-5;
    c.atol = 1e-5;
    cases.push_back(std::move(c));
  }
  for (int64_t n : options.sizes) {
    int64_t rows = std::max<int64_t>(1, n / classes);
    ember::Shape shape{rows, classes};
    BenchCase c;
    c.name = "cross_entropy_bwd" + suffix;
    c.family = "cross_entropy";
    c.shape = shape_label(shape);
    c.size = rows * classes;  // the elements measured: n rounded down to whole rows, at least one
    // read logits, targets, lse and the (per-row) upstream gradient; write grad_logits
    c.bytes = 2 * f32_bytes(rows * classes) + i64_bytes(rows) + 2 * f32_bytes(rows);
    c.make = [shape, rows, classes](uint64_t seed) {
      Tensor logits = random_nonzero(shape, seed, 0.1f, 4.0f);
      Tensor target = random_targets(rows, classes, seed);
      Tensor losses = ember::empty({rows}), lse = ember::empty({rows});
      ember::kernels::cpu::cross_entropy_forward(logits, target, losses, lse);
      return TensorList{logits, target, lse, random_nonzero({rows}, seed + 1), ember::empty(shape)};
    };
    double scale = 1.0 / static_cast<double>(rows);  // Reduction::Mean
    c.run = [scale](const TensorList& t) {
      EMBER_KERNEL(t[0].device(), cross_entropy_backward, t[0], t[1], t[2], t[3], 1, scale, t[4]);
    };
    c.outputs = {4};
    c.rtol = 1e-4;
    c.atol = 1e-6 * scale;
    cases.push_back(std::move(c));
  }
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  add_softmax(options, cases, false);
  add_softmax(options, cases, true);
  add_cross_entropy(options, cases, 10);
  add_cross_entropy(options, cases, 1000);
}

const bool registered = register_family("softmax", build);

}  // namespace
}  // namespace bench
