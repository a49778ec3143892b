// Division by a divisor fixed at launch, for kernels whose index arithmetic (element -> plane,
// row, column, window) would cost more than their memory traffic: on a GPU a 32-bit integer
// division is a sequence of ~20 instructions and a 64-bit one a call, against a few bytes moved
// per element. Kernels take the divider as a template parameter:
//   FastDivmod  (indices < 2^31): a multiply-high, an add and a shift;
//   PlainDivmod (any int64 index): the / and % operators.
//
// FastDivmod's math (a round-up reciprocal, Granlund and Montgomery 1994): for 1 <= d <= 2^31 let
//   s = ceil(log2 d),   m = floor(2^32 (2^s - d) / d) + 1   (m < 2^32: 2^s - d < d).
// Then for 0 <= n < 2^31, with t = floor(m n / 2^32):
//   floor(n / d) = floor((t + n) / 2^s),
// because (t + n) / 2^s floors to n (m + 2^32) / 2^(32+s), and (m + 2^32) / 2^(32+s) =
// (floor(2^(32+s) / d) + 1) / 2^(32+s) exceeds 1/d by at most 2^-(32+s): n/d gains less than
// 2^31 2^-(32+s) <= 1/(2d), too little to reach the next integer. t + n < 2^32 as t < n < 2^31.
#pragma once
#include <cstdint>

#include <ember/core/error.h>
#include <ember/kernels/philox.h>  // EMBER_HOST_DEVICE

namespace ember::kernels {

struct FastDivmod {
  using Index = uint32_t;
  uint32_t divisor = 1, multiplier = 0, shift = 0;

  FastDivmod() = default;
  explicit FastDivmod(int64_t d) {
    EMBER_CHECK(d >= 1 && d <= (int64_t(1) << 31), "FastDivmod: divisor ", d, " outside [1, 2^31]");
    divisor = static_cast<uint32_t>(d);
    while ((int64_t(1) << shift) < d) ++shift;
    multiplier = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - divisor)) / divisor + 1);
  }
  EMBER_HOST_DEVICE uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t t = __umulhi(n, multiplier);
#else
    const uint32_t t = static_cast<uint32_t>((uint64_t(n) * multiplier) >> 32);
#endif
    return (t + n) >> shift;
  }
  EMBER_HOST_DEVICE uint32_t mod(uint32_t n) const { return n - div(n) * divisor; }
};

struct PlainDivmod {
  using Index = int64_t;
  int64_t divisor = 1;

  PlainDivmod() = default;
  explicit PlainDivmod(int64_t d) : divisor(d) {}
  EMBER_HOST_DEVICE int64_t div(int64_t n) const { return n / divisor; }
  EMBER_HOST_DEVICE int64_t mod(int64_t n) const { return n - div(n) * divisor; }
};

// Whether every index of a launch (all below `extent`) suits FastDivmod.
inline bool fits_fast_divmod(int64_t extent) { return extent <= (int64_t(1) << 31); }

// Calls f(FastDivmod{}) when every index of a launch is below extent <= 2^31, else
// f(PlainDivmod{}); f builds the divisors it needs of the type it is given.
template <typename F>
void with_divmod(int64_t extent, F&& f) {
  if (fits_fast_divmod(extent)) f(FastDivmod{});
  else f(PlainDivmod{});
}

}  // namespace ember::kernels
