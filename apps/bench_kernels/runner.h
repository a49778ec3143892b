// Runs one case: checks its output on random inputs against the CPU reference, then times it on
// workloads rotated so that their total overflows the last-level cache.
#pragma once
#include <string>

#include "bench_case.h"
#include "timing.h"

namespace bench {

struct RunOptions {
  int warmup = 10;
  int repeats = 100;
  int64_t check_limit = int64_t(1) << 26;  // elements above which the check is skipped
  int max_sets = 512;                      // cap on the rotated workloads
};

struct Result {
  std::string name, family, shape;
  int64_t size = 0;
  Bound bound = Bound::Bandwidth;
  double bytes = 0, flops = 0;
  double median_us = 0, min_us = 0;
  int sets = 0, repeats = 0;
  double rate = 0;         // GB/s (Bandwidth) or TFLOP/s (Compute)
  double percent = 0;      // of the matching ceiling
  std::string check;       // PASS, FAIL, skip (above --check-limit) or ERROR
  std::string detail;      // what failed, or the error
};

Result run_case(const BenchCase& c, DeviceTimer& timer, const Ceilings& ceilings, const RunOptions& options);

// Empty when actual (any device) matches expected (CPU) within atol + rtol * |expected|, else the
// worst element; integer tensors must match exactly.
std::string compare_tensors(const ember::Tensor& actual, const ember::Tensor& expected, double rtol, double atol);

}  // namespace bench
