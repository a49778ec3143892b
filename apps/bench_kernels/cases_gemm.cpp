// GEMM: Ember's gemm entry point (OpenBLAS on the CPU, cuBLAS on the GPU) and, on CUDA, the
// hand-written SGEMM (kernels::cuda::sgemm_tiled), square M = N = K, FP32.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/gemm.h>

#include "bench_case.h"
#include "inputs.h"

namespace bench {
namespace {

BenchCase gemm_case(const std::string& name, int64_t n) {
  BenchCase c;
  c.name = name;
  c.family = "gemm";
  c.shape = std::to_string(n) + "x" + std::to_string(n) + "x" + std::to_string(n);
  c.size = n;
  c.bound = Bound::Compute;
  c.flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  c.bytes = 3 * f32_bytes(n * n);
  c.make = [n](uint64_t seed) {
    return TensorList{random_nonzero({n, n}, seed), random_nonzero({n, n}, seed + 1), ember::empty({n, n})};
  };
  c.run = [](const TensorList& t) { EMBER_KERNEL(t[0].device(), gemm, t[0], t[1], t[2], 1.0, 0.0); };
  c.reference = [](const TensorList& t) { ember::kernels::cpu::gemm(t[0], t[1], t[2], 1.0, 0.0); };
  c.outputs = {2};
  // Each output sums n products; TF32 or a wrong tile shows up far above this.
  c.rtol = 1e-4;
  c.atol = 5e-6 * static_cast<double>(n);
  return c;
}

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  for (int64_t n : options.gemm_sizes) cases.push_back(gemm_case(options.cuda ? "gemm_cublas" : "gemm_openblas", n));
#ifdef EMBER_WITH_CUDA
  for (int64_t n : options.gemm_sizes) {
    BenchCase c = gemm_case("sgemm_tiled", n);
    c.run = [n](const TensorList& t) {
      ember::kernels::cuda::sgemm_tiled(n, n, n, t[0].data<float>(), t[1].data<float>(), t[2].data<float>());
    };
    c.cuda_only = true;
    cases.push_back(std::move(c));
  }
#endif
}

const bool registered = register_family("gemm", build);

}  // namespace
}  // namespace bench
