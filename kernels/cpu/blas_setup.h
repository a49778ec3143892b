// OpenBLAS, prepared once before Ember's first CPU GEMM: one BLAS thread, and kernels that match the
// CPU (blas_setup.cpp says why).
#pragma once
#include <string>

namespace ember::kernels::cpu {

// Idempotent and thread-safe; the thread pool calls it when it starts, before any GEMM can run.
void prepare_blas();

// Has OpenBLAS select its kernel set again, as if started with OPENBLAS_CORETYPE=core_name (it falls
// back to a set the CPU can run). False where the build has no run-time selection (not DYNAMIC_ARCH).
// No GEMM may run meanwhile.
bool select_kernel_set(const std::string& core_name);

// Whether an OpenBLAS kernel set (its core name, any case) computes with AVX2 and FMA.
bool is_avx2_kernel_set(const std::string& core_name);

// The OpenBLAS kernel set that fits this CPU best among those: "SkylakeX" with AVX-512 (F, CD, BW,
// DQ, VL: what its kernels use), "Haswell" with AVX2 and FMA, "" otherwise.
std::string kernel_set_for_this_cpu();

}  // namespace ember::kernels::cpu
