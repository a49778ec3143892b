// OpenBLAS, prepared once before Ember's first CPU GEMM.
//
// One thread: Ember's pool owns the cores and calls BLAS from inside its parallel regions (OpenBLAS's
// own threads would oversubscribe them and spin in sched_yield between calls; thread_pool.cpp).
//
// Kernels that match the CPU: an OpenBLAS built for many CPUs (DYNAMIC_ARCH, as Debian's) picks its
// kernel set once, when it loads, from the CPU's model number. A model newer than the library gets
// the generic SSE3 set "Prescott": Debian 12's OpenBLAS 0.3.21 on an Emerald Rapids Xeon (family 6
// model 207, AVX-512) runs the Net's fc1 GEMM (100x50x320) in 227 us instead of 48 us with its
// SkylakeX set, and train_mnist's CPU epoch in 10.8 s instead of 4.7 s. Where OpenBLAS settled on
// a set without AVX2 and the CPU has AVX2 and FMA, Ember has it choose again through its own
// mechanism: OPENBLAS_CORETYPE names the set, gotoblas_dynamic_init (exported by every DYNAMIC_ARCH
// build; looked up at run time, so any other OpenBLAS links too) reads it, and the variable is
// removed again. A user's OPENBLAS_CORETYPE is theirs: then nothing changes.
#include <ember/kernels/cpu/blas_setup.h>

#include <ember/core/blas.h>

#include <cblas.h>
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

namespace ember::kernels::cpu {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct BlasState {
  std::string loaded_core;  // the set OpenBLAS chose when it loaded
  bool rechosen = false;    // whether Ember made it choose again
};

const BlasState& blas_state() {
  static const BlasState state = [] {
    openblas_set_num_threads(1);
    BlasState s;
    s.loaded_core = openblas_get_corename();
    const std::string wanted = kernel_set_for_this_cpu();
    if (std::getenv("OPENBLAS_CORETYPE") == nullptr && !wanted.empty() && !is_avx2_kernel_set(s.loaded_core))
      s.rechosen = select_kernel_set(wanted);
    return s;
  }();
  return state;
}

}  // namespace

bool select_kernel_set(const std::string& core_name) {
  using Hook = void (*)();
  auto quit = reinterpret_cast<Hook>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
  auto init = reinterpret_cast<Hook>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
  if (quit == nullptr || init == nullptr) return false;
  setenv("OPENBLAS_CORETYPE", core_name.c_str(), 1);
  quit();  // forgets the current set, so that init selects again
  init();
  unsetenv("OPENBLAS_CORETYPE");
  return true;
}

bool is_avx2_kernel_set(const std::string& core_name) {
  // The x86-64 sets of OpenBLAS's DYNAMIC_ARCH list whose GEMM kernels use AVX2 and FMA.
  static const char* const kAvx2Sets[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"};
  const std::string name = lower(core_name);
  return std::any_of(std::begin(kAvx2Sets), std::end(kAvx2Sets), [&](const char* set) { return name == set; });
}

std::string kernel_set_for_this_cpu() {
#if defined(__x86_64__) && defined(__GNUC__)
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

void prepare_blas() { blas_state(); }

}  // namespace ember::kernels::cpu

namespace ember {

std::string blas_info() {
  const auto& state = kernels::cpu::blas_state();
  std::string info = openblas_get_config();
  if (state.rechosen)
    info += " (" + std::string(openblas_get_corename()) + " chosen by Ember: OpenBLAS picked " + state.loaded_core +
            ", a set without AVX2, on this CPU)";
  return info;
}

}  // namespace ember
