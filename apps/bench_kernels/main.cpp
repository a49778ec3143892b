// bench_kernels: times Ember's kernel families over a sweep of sizes against ceilings measured in
// the same run (a large copy and FP32 SGEMM), after checking each kernel against the CPU reference.
// See docs/benchmarks.md for the method and the recorded tables.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <optional>

#include <ember/core/atomic_file.h>
#include <ember/core/threads.h>
#include <ember/kernels/cpu/parallel.h>

#include "bench_case.h"
#include "report.h"
#include "runner.h"
#include "timing.h"

#include "../common/cli.h"

namespace fs = std::filesystem;

namespace {

// The largest --sizes (elements of the main operand) and --gemm-sizes (M = N = K): each a 4 TiB
// float32 operand, beyond any machine, and small enough that no case's shape or byte count overflows.
constexpr int kMaxSizeLog2 = 40;
constexpr int kMaxGemmSizeLog2 = 20;
constexpr int kMaxThreads = ember::kMaxThreads;

using ember::cli::Digits;
using ember::cli::parse_digits;

// "65536" or BASE^EXP ("2^16") into a value in [1, 2^max_log2], else the reason it is refused. The
// two forms are checked alike, and a power past the bound is refused, never wrapped.
std::string parse_size(const std::string& text, int max_log2, int64_t& value) {
  const int64_t max = int64_t(1) << max_log2;
  const std::string too_large = "'" + text + "' is too large: at most 2^" + std::to_string(max_log2);
  const std::string malformed = "'" + text + "' is not a size: expected a positive integer or BASE^EXP (4096, 2^12)";
  const size_t caret = text.find('^');
  if (caret == std::string::npos) {
    Digits d = parse_digits(text, value);
    if (d == Digits::NotDigits) return malformed;
    if (d == Digits::TooLarge || value > max) return too_large;
  } else {
    int64_t base = 0, exponent = 0;
    Digits b = parse_digits(text.substr(0, caret), base), e = parse_digits(text.substr(caret + 1), exponent);
    if (b == Digits::NotDigits || e == Digits::NotDigits) return malformed;
    if (b == Digits::TooLarge) return too_large;
    if (base <= 1) {
      // 1^e = 1, 0^e = 0 (0^0 = 1), whatever the exponent: no loop over it.
      value = base == 1 || (e == Digits::Ok && exponent == 0) ? 1 : 0;
    } else {
      if (e == Digits::TooLarge) return too_large;
      value = 1;
      for (int64_t i = 0; i < exponent; ++i) {
        if (value > max / base) return too_large;
        value *= base;
      }
    }
    if (value > max) return too_large;
  }
  if (value < 1) return "'" + text + "' is not a size: it must be at least 1";
  return "";
}

CLI::Validator size_validator(int max_log2) {
  return CLI::Validator(
      [max_log2](std::string& text) {
        int64_t value = 0;
        return parse_size(text, max_log2, value);
      },
      "SIZE");
}

int64_t checked_size(const std::string& text, int max_log2) {
  int64_t value = 0;
  std::string why = parse_size(text, max_log2, value);
  if (!why.empty()) throw ember::Error(why);  // the validator has already refused it
  return value;
}

std::vector<int64_t> powers_of_four(int from_log2, int to_log2) {
  std::vector<int64_t> sizes;
  for (int e = from_log2; e <= to_log2; e += 2) sizes.push_back(int64_t(1) << e);
  return sizes;
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

bool matches(const std::string& name, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  return std::any_of(filters.begin(), filters.end(),
                     [&](const std::string& f) { return name.find(f) != std::string::npos; });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_kernels: Ember's kernels against the copy bandwidth and SGEMM ceilings"};
  std::string device_name = ember::cuda::is_available() ? "cuda" : "cpu";
  std::vector<std::string> filters, size_texts, gemm_size_texts;
  int repeats = -1, warmup = -1, threads = 0;
  std::string json_path;
  bench::RunOptions run_options;
  bool list_only = false;
  app.add_option("--device", device_name, "cuda or cpu (default: cuda when a GPU is available)")
      ->check(CLI::IsMember({"cuda", "cpu"}));
  app.add_option("--filter", filters,
                 "only kernels whose name contains one of these substrings (each must match a kernel)");
  app.add_option("--sizes", size_texts,
                 "element counts for the bandwidth sweeps, e.g. 4096 or 2^20, at most 2^" +
                     std::to_string(kMaxSizeLog2) + " (default 2^16..2^28 in powers of 4 on CUDA, 2^16..2^24 on the CPU)")
      ->check(size_validator(kMaxSizeLog2));
  app.add_option("--gemm-sizes", gemm_size_texts,
                 "M = N = K of the GEMM cases, at most 2^" + std::to_string(kMaxGemmSizeLog2) +
                     " (default 512..4096 on CUDA, 256..2048 on the CPU)")
      ->check(size_validator(kMaxGemmSizeLog2));
  app.add_option("--repeats", repeats, "timed calls per figure, median reported, 1..1000000 (default 100 CUDA, 20 CPU)")
      ->check(ember::cli::integer_in(1, 1000000));
  app.add_option("--warmup", warmup, "untimed calls first, 0..1000000 (default 10 CUDA, 3 CPU)")
      ->check(ember::cli::integer_in(0, 1000000));
  app.add_option("--check-limit", run_options.check_limit,
                 "check against the CPU only up to this many elements (default 2^26; 0: check nothing)")
      ->check(ember::cli::integer_in(int64_t{0}, int64_t{1} << kMaxSizeLog2));
  app.add_option("--max-sets", run_options.max_sets, "most workloads rotated per figure, 1..65536 (default 512)")
      ->check(ember::cli::integer_in(1, 65536));
  app.add_option("--threads", threads,
                 "CPU threads for Ember's CPU kernels, 1.." + std::to_string(kMaxThreads) + " (default: all)")
      ->check(ember::cli::integer_in(1, kMaxThreads));
  app.add_option("--json", json_path,
                 "also write the results to this JSON file (atomically; its folder is checked before any measuring)")
      ->check(CLI::Validator([](std::string& path) { return ember::unwritable_reason(path); }, "PATH"));
  app.add_flag("--list", list_only, "list the selected cases and exit");
  if (auto exit_code = ember::cli::parse(app, argc, argv, "bench_kernels")) return *exit_code;

  try {
    const bool cuda = device_name == "cuda";
    if (threads > 0) {
      try {
        ember::kernels::cpu::set_num_threads(threads);
      } catch (const std::exception& e) {
        throw ember::Error("--threads " + std::to_string(threads) + ": " + e.what());
      }
    } else {
      ember::get_num_threads();  // makes the pool now: a bad $EMBER_NUM_THREADS is reported before any work
    }
    bench::CaseOptions case_options;
    case_options.cuda = cuda;
    for (const auto& s : size_texts) case_options.sizes.push_back(checked_size(s, kMaxSizeLog2));
    for (const auto& s : gemm_size_texts) case_options.gemm_sizes.push_back(checked_size(s, kMaxGemmSizeLog2));
    if (case_options.sizes.empty()) case_options.sizes = cuda ? powers_of_four(16, 28) : powers_of_four(16, 24);
    if (case_options.gemm_sizes.empty())
      case_options.gemm_sizes = cuda ? std::vector<int64_t>{512, 1024, 2048, 4096} : std::vector<int64_t>{256, 512, 1024, 2048};
    run_options.repeats = repeats > 0 ? repeats : (cuda ? 100 : 20);
    run_options.warmup = warmup >= 0 ? warmup : (cuda ? 10 : 3);

    std::vector<bench::BenchCase> cases;
    for (auto& c : bench::build_cases(case_options)) {
      if ((cuda && c.cpu_only) || (!cuda && c.cuda_only)) continue;
      cases.push_back(std::move(c));
    }
    // A filter that selects nothing is a mistake (a typo, a CUDA-only kernel on the CPU): said before
    // any measuring, not after an empty table.
    for (const std::string& f : filters) {
      if (std::none_of(cases.begin(), cases.end(), [&](const bench::BenchCase& c) { return matches(c.name, {f}); })) {
        std::cerr << "bench_kernels: --filter: '" << f << "' matches no kernel on " << device_name
                  << " (see --list)\n";
        return 2;
      }
    }
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&](const bench::BenchCase& c) { return !matches(c.name, filters); }),
                cases.end());
    if (list_only) {
      for (const auto& c : cases) std::cout << c.family << "  " << c.name << "  " << c.shape << "\n";
      return 0;
    }

    std::unique_ptr<bench::DeviceTimer> timer;
    if (cuda) {
#ifdef EMBER_WITH_CUDA
      if (!ember::cuda::is_available()) throw ember::Error("--device cuda, but no CUDA device is visible");
      timer = bench::make_cuda_timer();
#else
      throw ember::Error("--device cuda, but this build of Ember has no CUDA support");
#endif
    } else {
      timer = bench::make_cpu_timer();
    }

    bench::RunInfo info;
    info.device = device_name;
    info.description = timer->description();
    info.date = utc_now();
    for (int i = 0; i < argc; ++i) info.command += (i ? " " : "") + std::string(argv[i]);
    info.warmup = run_options.warmup;
    info.repeats = run_options.repeats;
    info.cache_bytes = timer->cache_bytes();
    info.ceilings = timer->measure_ceilings(run_options.warmup, run_options.repeats, cuda ? 4096 : 2048);
    bench::print_header(std::cout, info);
    bench::print_table_header(std::cout);

    std::vector<bench::Result> results;
    for (const auto& c : cases) {
      results.push_back(bench::run_case(c, *timer, info.ceilings, run_options));
      bench::print_row(std::cout, results.back());
      std::cout.flush();
    }
    bench::print_problems(std::cout, results);
    if (!json_path.empty()) bench::write_json(json_path, info, results);
    bool all_good = std::none_of(results.begin(), results.end(),
                                 [](const bench::Result& r) { return r.check == "FAIL" || r.check == "ERROR"; });
    return all_good ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_kernels: error: " << e.what() << "\n";
    return 1;
  }
}
