// kernels::sgemm_tiled on tensors: validates and forwards to the CUDA kernel (kernels/cuda/sgemm.cu).
// It lives with the always-built sources so tests and benchmarks link in CPU-only builds too.
#include <ember/kernels/dispatch.h>
#include <ember/kernels/gemm.h>

namespace ember::kernels {

void sgemm_tiled(const Tensor& a, const Tensor& b, const Tensor& c) {
  EMBER_CHECK(a.is_cuda() && b.is_cuda() && c.is_cuda() && a.device() == b.device() && a.device() == c.device(),
              "sgemm_tiled: expected float32 tensors on one CUDA device, got ", a.str(), ", ", b.str(), ", ", c.str());
  EMBER_CHECK(a.dtype() == kFloat32 && b.dtype() == kFloat32 && c.dtype() == kFloat32,
              "sgemm_tiled: expected float32, got ", a.str(), ", ", b.str(), ", ", c.str());
  EMBER_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2 && a.size(1) == b.size(0) && c.size(0) == a.size(0) &&
                  c.size(1) == b.size(1),
              "sgemm_tiled: expected (M, K) @ (K, N) -> (M, N), got ", a.str(), ", ", b.str(), ", ", c.str());
  EMBER_CHECK(a.is_contiguous() && b.is_contiguous() && c.is_contiguous(), "sgemm_tiled: expected contiguous tensors");
#ifdef EMBER_WITH_CUDA
  cuda::sgemm_tiled(a.size(0), b.size(1), a.size(1), a.data<float>(), b.data<float>(), c.data<float>());
#else
  detail::no_cuda("sgemm_tiled");
#endif
}

}  // namespace ember::kernels
