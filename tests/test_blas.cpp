// OpenBLAS beneath the CPU GEMMs: Ember makes it run kernels that use the CPU's AVX2 and FMA even
// where it does not know the CPU's model (kernels/cpu/blas_setup.cpp).
#include <catch2/catch.hpp>

#include <cblas.h>

#include <cstdlib>
#include <string>

#include <ember/kernels/cpu/blas_setup.h>

#include "support/test_support.h"

using namespace ember;
using kernels::cpu::is_avx2_kernel_set;

namespace {

// A float32 matmul of random operands against the same product in float64.
void check_float_matmul_against_double() {
  Tensor a = testing::random_tensor({37, 45}, 1), b = testing::random_tensor({45, 29}, 2);
  Tensor expected = matmul(a, b);
  Tensor got = matmul(a.to(kFloat32), b.to(kFloat32)).to(kFloat64);
  std::string why;
  const bool close = testing::all_close(got, expected, 1e-5, 1e-5, &why);
  INFO(why);
  CHECK(close);
}

}  // namespace

TEST_CASE("the kernel sets of OpenBLAS that use AVX2 and FMA are told apart from the others", "[core][blas]") {
  for (const char* set : {"Haswell", "ZEN", "SkylakeX", "Cooperlake", "sapphirerapids"}) CHECK(is_avx2_kernel_set(set));
  for (const char* set : {"Prescott", "Core2", "Nehalem", "Sandybridge", "Bulldozer", "", "Skylake"})
    CHECK_FALSE(is_avx2_kernel_set(set));
}

TEST_CASE("OpenBLAS runs kernels that use the CPU's AVX2 and FMA", "[core][blas]") {
  const std::string info = blas_info();
  INFO(info);
  CHECK(info.rfind("OpenBLAS", 0) == 0);
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice stands
  const std::string wanted = kernels::cpu::kernel_set_for_this_cpu();
  if (wanted.empty()) return;  // no AVX2: any set is as good as OpenBLAS's
  CHECK(is_avx2_kernel_set(openblas_get_corename()));
  CHECK(std::getenv("OPENBLAS_CORETYPE") == nullptr);  // Ember's choice leaves no variable behind
  check_float_matmul_against_double();
}

TEST_CASE("OpenBLAS selects its kernel set again at run time, and GEMMs stay right", "[core][blas]") {
#if !defined(__x86_64__)
  return;  // the kernel set named below is x86-64's
#endif
  blas_info();  // prepared as usual first
  const std::string before = openblas_get_corename();
  if (!kernels::cpu::select_kernel_set("Prescott")) return;  // an OpenBLAS without DYNAMIC_ARCH
  CHECK(std::string(openblas_get_corename()) == "Prescott");
  check_float_matmul_against_double();
  REQUIRE(kernels::cpu::select_kernel_set(before));
  CHECK(std::string(openblas_get_corename()) == before);
  check_float_matmul_against_double();
}
