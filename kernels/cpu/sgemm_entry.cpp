// kernels::sgemm_tiled / sgemm_step / sgemm_warptile on tensors: validate and forward to the CUDA kernels
// (kernels/cuda/sgemm.cu, sgemm_steps.cu, sgemm_warptile.cu). They live with the always-built sources so tests and
// benchmarks link in CPU-only builds too.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/gemm.h>

namespace ember::kernels {

namespace {
// c = a @ b: float32 (M, K), (K, N), (M, N), contiguous, on one CUDA device.
void check_sgemm_operands(const Tensor& a, const Tensor& b, const Tensor& c) {
  EMBER_CHECK(a.is_cuda() && b.is_cuda() && c.is_cuda() && a.device() == b.device() && a.device() == c.device(),
              "sgemm_tiled: expected float32 tensors on one CUDA device, got ", a.str(), ", ", b.str(), ", ", c.str());
  EMBER_CHECK(a.dtype() == kFloat32 && b.dtype() == kFloat32 && c.dtype() == kFloat32,
              "sgemm_tiled: expected float32, got ", a.str(), ", ", b.str(), ", ", c.str());
  EMBER_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2 && a.size(1) == b.size(0) && c.size(0) == a.size(0) &&
                  c.size(1) == b.size(1),
              "sgemm_tiled: expected (M, K) @ (K, N) -> (M, N), got ", a.str(), ", ", b.str(), ", ", c.str());
  EMBER_CHECK(a.is_contiguous() && b.is_contiguous() && c.is_contiguous(), "sgemm_tiled: expected contiguous tensors");
}
}  // namespace

void sgemm_tiled(const Tensor& a, const Tensor& b, const Tensor& c) {
  check_sgemm_operands(a, b, c);
#ifdef EMBER_WITH_CUDA
  cuda::sgemm_tiled(a.size(0), b.size(1), a.size(1), a.data<float>(), b.data<float>(), c.data<float>());
#else
  detail::no_cuda("sgemm_tiled");
#endif
}

void sgemm_tiled(const SgemmTile& tile, const Tensor& a, const Tensor& b, const Tensor& c) {
  check_sgemm_operands(a, b, c);
#ifdef EMBER_WITH_CUDA
  cuda::sgemm_tiled(tile, a.size(0), b.size(1), a.size(1), a.data<float>(), b.data<float>(), c.data<float>());
#else
  (void)tile;
  detail::no_cuda("sgemm_tiled");
#endif
}

void sgemm_step(int step, const Tensor& a, const Tensor& b, const Tensor& c) {
  check_sgemm_operands(a, b, c);
#ifdef EMBER_WITH_CUDA
  cuda::sgemm_steps::run(step, a.size(0), b.size(1), a.size(1), a.data<float>(), b.data<float>(), c.data<float>());
#else
  (void)step;
  detail::no_cuda("sgemm_step");
#endif
}

void sgemm_warptile(const SgemmWarpTile& config, const Tensor& a, const Tensor& b, const Tensor& c) {
  check_sgemm_operands(a, b, c);
#ifdef EMBER_WITH_CUDA
  cuda::sgemm_warptile(config, a.size(0), b.size(1), a.size(1), a.data<float>(), b.data<float>(), c.data<float>());
#else
  (void)config;
  detail::no_cuda("sgemm_warptile");
#endif
}

}  // namespace ember::kernels
