// GEMM: Ember's gemm entry point (OpenBLAS on the CPU, cuBLAS on the GPU) and, on CUDA, the
// hand-written SGEMM, square M = N = K, FP32:
//   sgemm_tiled          the production kernel as ops would call it (kernels::cuda::sgemm_tiled)
//   sgemm_step0..6       the ladder of docs/perf-notes.md ("Hand-written SGEMM"), one kernel per step
//   sgemm_tiled_<tile>   the production kernel with each block tile in kernels::kSgemmTiles
//   sgemm_warptile_<cfg> the warp-tiled kernel (step 6) with each configuration in kernels::kSgemmWarpTiles
// Each is checked against the CPU on random inputs before it is timed, and reported as TFLOP/s and
// as % of the cuBLAS FP32 ceiling measured in the same run (`bench_kernels --filter sgemm`).
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

#ifdef EMBER_WITH_CUDA
// A hand-written SGEMM case: `sgemm(M, N, K, A, B, C)` on the workload's raw device pointers.
template <typename Sgemm>
BenchCase hand_written_case(const std::string& name, int64_t n, Sgemm sgemm) {
  BenchCase c = gemm_case(name, n);
  c.run = [n, sgemm](const TensorList& t) {
    sgemm(n, n, n, t[0].data<float>(), t[1].data<float>(), t[2].data<float>());
  };
  c.cuda_only = true;
  return c;
}

// Steps 0-2 run at a few TFLOP/s at best (tens of ms per call at 4096^3): 10 timed calls are plenty.
constexpr int kSlowStepRepeats = 10;
#endif

void build(const CaseOptions& options, std::vector<BenchCase>& cases) {
  for (int64_t n : options.gemm_sizes) cases.push_back(gemm_case(options.cuda ? "gemm_cublas" : "gemm_openblas", n));
#ifdef EMBER_WITH_CUDA
  namespace kc = ember::kernels::cuda;
  for (int64_t n : options.gemm_sizes) cases.push_back(hand_written_case("sgemm_tiled", n, [](auto... args) {
    kc::sgemm_tiled(args...);
  }));
  for (int step = 0; step < ember::kernels::kSgemmSteps; ++step) {
    for (int64_t n : options.gemm_sizes) {
      BenchCase c = hand_written_case("sgemm_step" + std::to_string(step), n, [step](auto... args) {
        kc::sgemm_steps::run(step, args...);
      });
      if (step <= 2) c.max_repeats = kSlowStepRepeats;
      cases.push_back(std::move(c));
    }
  }
  for (const ember::kernels::SgemmTile& tile : ember::kernels::kSgemmTiles) {
    for (int64_t n : options.gemm_sizes) {
      cases.push_back(hand_written_case("sgemm_tiled_" + ember::kernels::sgemm_tile_name(tile), n,
                                        [tile](auto... args) { kc::sgemm_tiled(tile, args...); }));
    }
  }
  for (const ember::kernels::SgemmWarpTile& config : ember::kernels::kSgemmWarpTiles) {
    for (int64_t n : options.gemm_sizes) {
      cases.push_back(hand_written_case("sgemm_warptile_" + ember::kernels::sgemm_warp_tile_name(config), n,
                                        [config](auto... args) { kc::sgemm_warptile(config, args...); }));
    }
  }
#endif
}

const bool registered = register_family("gemm", build);

}  // namespace
}  // namespace bench
