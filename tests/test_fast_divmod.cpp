// FastDivmod (kernels/fast_divmod.h) against the / and % operators: every divisor up to 4096 and
// the extremes, at the dividends where a reciprocal's rounding would first show (around multiples
// of the divisor, the top of the range) and at random ones.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include <ember/kernels/fast_divmod.h>

using ember::kernels::FastDivmod;

namespace {

constexpr int64_t kTop = (int64_t(1) << 31) - 1;  // the largest dividend FastDivmod takes

// Dividends at which floor(n / d) changes or the range ends, plus random ones.
std::vector<int64_t> dividends(int64_t d, std::mt19937_64& rng) {
  std::vector<int64_t> n = {0, 1, kTop, kTop - 1, kTop - kTop % d, kTop - kTop % d - 1};
  for (int64_t q : {int64_t(1), int64_t(2), int64_t(3), kTop / d / 2, kTop / d - 1, kTop / d})
    for (int64_t delta : {-1, 0, 1}) n.push_back(q * d + delta);
  std::uniform_int_distribution<int64_t> any(0, kTop);
  for (int k = 0; k < 64; ++k) n.push_back(any(rng));
  return n;
}

}  // namespace

TEST_CASE("FastDivmod matches / and % for indices below 2^31", "[kernels]") {
  std::mt19937_64 rng(7);
  std::vector<int64_t> divisors;
  for (int64_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (int64_t d : {int64_t(10007), int64_t(65535), int64_t(65536), int64_t(1) << 20, (int64_t(1) << 20) + 1,
                    int64_t(24 * 24), int64_t(100 * 10 * 24 * 24), kTop / 3, kTop - 1, kTop, kTop + 1})
    divisors.push_back(d);
  std::uniform_int_distribution<int64_t> large(4097, kTop + 1);
  for (int k = 0; k < 2000; ++k) divisors.push_back(large(rng));
  int64_t wrong = 0;
  for (int64_t d : divisors) {
    const FastDivmod fast(d);
    for (int64_t n : dividends(d, rng)) {
      if (n < 0 || n > kTop) continue;
      const uint32_t n32 = static_cast<uint32_t>(n);
      if (fast.div(n32) != n / d || fast.mod(n32) != n % d) {
        if (++wrong <= 5) FAIL_CHECK(n << " / " << d << ": " << fast.div(n32) << " r " << fast.mod(n32));
      }
    }
  }
  CHECK(wrong == 0);
  CHECK_THROWS_WITH(FastDivmod(0), Catch::Contains("divisor 0"));
  CHECK(ember::kernels::fits_fast_divmod(kTop + 1));
  CHECK_FALSE(ember::kernels::fits_fast_divmod(kTop + 2));
}
