// The BLAS beneath the CPU backend's GEMMs and convolutions (OpenBLAS).
#pragma once
#include <string>

namespace ember {
// One line for logs and benchmark records: OpenBLAS's version, build and the kernel set it runs, and
// whether Ember chose that set, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY SkylakeX
// MAX_THREADS=64 (SkylakeX chosen by Ember: OpenBLAS picked Prescott, a set without AVX2, on this
// CPU)". Prepares OpenBLAS first if no CPU kernel has run yet (kernels/cpu/blas_setup.cpp).
std::string blas_info();
}  // namespace ember
