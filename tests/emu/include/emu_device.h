// EMULATOR: forced include for Ember's .cu files compiled as C++: the CUDA kernel language on fibers.
#pragma once
#include <cuda_runtime.h>
#include <math.h>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __CUDACC__ 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

namespace emu {
struct Fiber {
  uint3 idx;
  int linear;
};
extern Fiber* g_cur;
extern uint3 g_block_idx;
extern dim3 g_block_dim, g_grid_dim;
void syncthreads(void* site);
uint64_t shuffle(unsigned mask, uint64_t bits, int kind, int arg, int width, void* site);
void syncwarp(unsigned mask, void* site);
[[noreturn]] void trap();
}  // namespace emu

#define threadIdx (::emu::g_cur->idx)
#define blockIdx (::emu::g_block_idx)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)
#define warpSize 32

inline void __syncthreads() { ::emu::syncthreads(__builtin_return_address(0)); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::emu::syncwarp(mask, __builtin_return_address(0)); }
[[noreturn]] inline void __trap() { ::emu::trap(); }
// The SM clock, emulated as nanoseconds of the host's steady clock (cudaDevAttrClockRate says 1 GHz).
inline long long clock64() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
inline void __threadfence() {}
inline void __threadfence_block() {}

namespace emu {
template <typename T>
inline T shfl(unsigned mask, T v, int kind, int arg, int width, void* site) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shuffle(mask, bits, kind, arg, width, site);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
}  // namespace emu
// kind: 0 idx, 1 up, 2 down, 3 xor
template <typename T>
__attribute__((noinline)) T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return ::emu::shfl(mask, v, 0, src, width, __builtin_return_address(0));
}
template <typename T>
__attribute__((noinline)) T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32) {
  return ::emu::shfl(mask, v, 1, static_cast<int>(d), width, __builtin_return_address(0));
}
template <typename T>
__attribute__((noinline)) T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
  return ::emu::shfl(mask, v, 2, static_cast<int>(d), width, __builtin_return_address(0));
}
template <typename T>
__attribute__((noinline)) T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32) {
  return ::emu::shfl(mask, v, 3, m, width, __builtin_return_address(0));
}

// Atomics: fibers of one launch run on one OS thread, and launches are serialised.
template <typename T>
inline T atomicAdd(T* address, T v) {
  T old = *address;
  *address = old + v;
  return old;
}
template <typename T>
inline T atomicMax(T* address, T v) {
  T old = *address;
  if (v > old) *address = v;
  return old;
}
template <typename T>
inline T atomicExch(T* address, T v) {
  T old = *address;
  *address = v;
  return old;
}
template <typename T>
inline T atomicCAS(T* address, T compare, T v) {
  T old = *address;
  if (old == compare) *address = v;
  return old;
}

// Device overloads of min/max (CUDA declares them for every arithmetic type).
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
template <typename T>
inline T __ldg(const T* p) { return *p; }
