// Elementwise family: unary maps, binary maps, axpy, and binary ops with one operand broadcast.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/elementwise.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

using ember::kernels::BinaryOp;
using ember::kernels::UnaryOp;

void add_unary(const CaseOptions& options, std::vector<BenchCase>& cases, const std::string& name, UnaryOp op,
               bool positive_inputs) {
  for (int64_t n : options.sizes) {
    BenchCase c;
    c.name = "unary_" + name;
    c.family = "elementwise";
    c.shape = shape_label({n});
    c.size = n;
    c.bytes = 2 * f32_bytes(n);  // read x, write y
    c.make = [n, positive_inputs](uint64_t seed) {
      return TensorList{random_nonzero({n}, seed, 0.1f, 1.0f, !positive_inputs), ember::empty({n})};
    };
    c.run = [op](const TensorList& t) { EMBER_KERNEL(t[0].device(), unary, op, t[0], t[1], 0.0); };
    c.outputs = {1};
    c.rtol = 1e-5;
    c.atol = 1e-6;
    cases.push_back(std::move(c));
  }
}

void add_binary(const CaseOptions& options, std::vector<BenchCase>& cases, const std::string& name, BinaryOp op) {
  for (int64_t n : options.sizes) {
    BenchCase c;
    c.name = "binary_" + name;
    c.family = "elementwise";
    c.shape = shape_label({n});
    c.size = n;
    c.bytes = 3 * f32_bytes(n);  // read a and b, write out
    c.make = [n](uint64_t seed) {
      return TensorList{random_nonzero({n}, seed), random_nonzero({n}, seed + 1), ember::empty({n})};
    };
    c.run = [op](const TensorList& t) { EMBER_KERNEL(t[0].device(), binary, op, t[0], t[1], t[2], 0.0); };
    c.outputs = {2};
    c.rtol = 1e-5;
    c.atol = 1e-6;
    cases.push_back(std::move(c));
  }
}

void add_axpy(const CaseOptions& options, std::vector<BenchCase>& cases) {
  for (int64_t n : options.sizes) {
    BenchCase c;
    c.name = "axpy";
    c.family = "elementwise";
    c.shape = shape_label({n});
    c.size = n;
    c.bytes = 3 * f32_bytes(n);  // read x and y, write y
    c.make = [n](uint64_t seed) { return TensorList{random_nonzero({n}, seed), random_nonzero({n}, seed + 1)}; };
    c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), axpy, t[0], t[1], 0.5); };
    c.outputs = {1};
    c.rtol = 1e-5;
    c.atol = 1e-6;
    cases.push_back(std::move(c));
  }
}

// a (rows, cols) + b broadcast along rows (b: (cols), "row") or along columns (b: (rows, 1), "col").
void add_broadcast(const CaseOptions& options, std::vector<BenchCase>& cases, bool row_vector) {
  for (int64_t n : options.sizes) {
    ember::Shape shape = matrix_shape(n, 1024);
    int64_t rows = shape[0], cols = shape[1];
    ember::Shape b_shape = row_vector ? ember::Shape{1, cols} : ember::Shape{rows, 1};
    BenchCase c;
    c.name = row_vector ? "bcast_add_row" : "bcast_add_col";
    c.family = "broadcast";
    c.shape = shape_label(shape) + "+" + shape_label(b_shape);
    c.size = rows * cols;
    c.bytes = 2 * f32_bytes(rows * cols) + f32_bytes(ember::shape_numel(b_shape));
    c.make = [shape, b_shape](uint64_t seed) {
      return TensorList{random_nonzero(shape, seed), random_nonzero(b_shape, seed + 1), ember::empty(shape)};
    };
    c.run = [shape](const TensorList& t) {
      // The kernel takes b already broadcast: a stride-0 view of out's shape.
      EMBER_KERNEL(t[0].device(), binary, BinaryOp::Add, t[0], t[1].expand(shape), t[2], 0.0);
    };
    c.outputs = {2};
    c.rtol = 1e-5;
    c.atol = 1e-6;
    cases.push_back(std::move(c));
  }
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  add_unary(options, cases, "relu", UnaryOp::Relu, false);
  add_unary(options, cases, "exp", UnaryOp::Exp, false);
  add_unary(options, cases, "log", UnaryOp::Log, true);
  add_binary(options, cases, "add", BinaryOp::Add);
  add_binary(options, cases, "mul", BinaryOp::Mul);
  add_binary(options, cases, "relu_backward", BinaryOp::ReluBackward);
  add_axpy(options, cases);
  add_broadcast(options, cases, true);
  add_broadcast(options, cases, false);
}

const bool registered = register_family("elementwise", build);

}  // namespace
}  // namespace bench
