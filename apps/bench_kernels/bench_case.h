// One benchmark case: a kernel at one problem size, with how to build its operands, how to run
// it, what it moves or computes per call, and which of its operands to check against the CPU.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace bench {

using ember::Tensor;
using ember::TensorList;

// What a case's throughput is compared against: the copy bandwidth or the SGEMM rate.
enum class Bound { Bandwidth, Compute };

struct BenchCase {
  std::string name;    // kernel name, what --filter matches: "binary_add", "sgemm_tiled"
  std::string family;  // "elementwise", "reduce", ...
  std::string shape;   // the operands' main shape, for the table: "[16384, 1024]"
  int64_t size = 0;    // what --sizes selects: elements of the main operand (M = N = K for GEMM)
  Bound bound = Bound::Bandwidth;
  double bytes = 0;    // bytes read + written per call (minimal traffic: each operand once)
  double flops = 0;    // floating-point operations per call (Compute cases)

  // Builds one workload on the CPU, float32: the inputs (random, never zero) and the outputs
  // (allocated). seed makes each rotated workload different.
  std::function<TensorList(uint64_t seed)> make;
  // Runs the kernel under test on a workload (on whatever device its tensors live).
  std::function<void(const TensorList&)> run;
  // Runs the CPU reference on a CPU workload (float32 or float64); unset: run.
  std::function<void(const TensorList&)> reference;
  // Indices into the workload of the tensors the kernel writes (compared by the check).
  std::vector<size_t> outputs;
  double rtol = 1e-4;
  double atol = 1e-5;
  // Caps --repeats and --warmup for kernels too slow to call 100 times (0: no cap), e.g. the
  // naive SGEMM steps at 4096^3.
  int max_repeats = 0;
  bool cuda_only = false;  // e.g. the hand-written SGEMM: no CPU counterpart to time
  bool cpu_only = false;
};

struct CaseOptions {
  bool cuda = false;                    // building cases for a CUDA run
  std::vector<int64_t> sizes;           // element counts for the bandwidth sweeps
  std::vector<int64_t> gemm_sizes;      // M = N = K
};

// Each cases_<family>.cpp registers a builder at static-initialisation time.
using CaseBuilder = std::function<void(const CaseOptions&, std::vector<BenchCase>&)>;
bool register_family(const std::string& family, CaseBuilder builder);
std::vector<BenchCase> build_cases(const CaseOptions& options);

}  // namespace bench
