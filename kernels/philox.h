// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
// a bijection of a 128-bit counter keyed by 64 bits, ten rounds of
//   (L, R) <- (mulhi(M, R) ^ key ^ L', mullo(M, R)),
// so element i of a stream is philox(seed, offset + i) and any thread can compute it directly.
// Usable from host code and CUDA kernels alike.
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define EMBER_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define EMBER_HOST_DEVICE inline
#endif

namespace ember::kernels {

struct Philox4 {
  uint32_t v[4];
};

EMBER_HOST_DEVICE uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
}

// Four 32-bit random words for counter `counter` under key `seed`.
EMBER_HOST_DEVICE Philox4 philox(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, &hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// A 32-bit word to a uniform number in [0, 1) with 24 (float) or 32 (double) random bits.
EMBER_HOST_DEVICE float uniform_float(uint32_t x) { return (x >> 8) * (1.0f / 16777216.0f); }
EMBER_HOST_DEVICE double uniform_double(uint32_t x) { return x * (1.0 / 4294967296.0); }

// Box-Muller: two uniforms (u1 in (0, 1]) to one standard normal.
EMBER_HOST_DEVICE double box_muller(uint32_t a, uint32_t b) {
  double u1 = (a + 1.0) * (1.0 / 4294967297.0);
  double u2 = b * (1.0 / 4294967296.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace ember::kernels
