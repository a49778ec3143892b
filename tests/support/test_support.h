// Test helpers: random inputs, tensor comparison, a finite-difference gradient check and a
// CUDA-versus-CPU check.
#pragma once
#include <functional>
#include <string>

#include <ember/ember.h>

namespace ember::testing {

// Uniform in [low, high), float64 unless told; seeded so failures reproduce.
Tensor random_tensor(const Shape& sizes, uint64_t seed, double low = -1.0, double high = 1.0, DType dtype = kFloat64);

// Distinct values, never zero (no ties in max pooling, nothing at relu's kink): a shuffled grid of
// spacing 2/n in (-1, 1), offset by half a step. float64.
Tensor distinct_tensor(const Shape& sizes, uint64_t seed);

// max |a - b| <= atol + rtol * |b| elementwise (same shape); the message names the worst element.
bool all_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, std::string* why = nullptr);

using TensorFn = std::function<Tensor(const TensorList&)>;

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

// Checks the backward of fn at inputs (float64, CPU) against central differences, for the
// scalar sum(fn(inputs) * w) with a fixed random w. Inputs that should get gradients must have
// requires_grad set. Returns an empty string on success, else what differed.
std::string gradcheck(const TensorFn& fn, const TensorList& inputs, GradcheckOptions options = {});

// Runs fn on the CPU inputs and on copies moved to cuda:0 (converted to `dtype`), and compares
// the outputs and the gradients of sum(out * w) for every input requiring grad. Empty on success.
std::string compare_cuda_with_cpu(const TensorFn& fn, const TensorList& cpu_inputs, double rtol, double atol,
                                  DType dtype = kFloat32);

// The row of kernel `name` in a profiler recording, or nullptr.
const profiler::KernelStats* find_kernel_stats(const std::vector<profiler::KernelStats>& stats, const std::string& name);

}  // namespace ember::testing
