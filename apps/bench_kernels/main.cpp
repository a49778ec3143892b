// bench_kernels: times Ember's kernel families over a sweep of sizes against ceilings measured in
// the same run (a large copy and FP32 SGEMM), after checking each kernel against the CPU reference.
// See docs/benchmarks.md for the method and the recorded tables.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <ctime>
#include <iostream>

#include <ember/kernels/cpu/parallel.h>

#include "bench_case.h"
#include "report.h"
#include "runner.h"
#include "timing.h"

namespace {

// "65536", "2^16" or "64Ki"-free plain forms; throws CLI11's ValidationError on anything else.
int64_t parse_size(const std::string& text) {
  try {
    size_t caret = text.find('^');
    if (caret != std::string::npos) {
      int64_t base = std::stoll(text.substr(0, caret));
      int exponent = std::stoi(text.substr(caret + 1));
      int64_t value = 1;
      for (int i = 0; i < exponent; ++i) value *= base;
      return value;
    }
    size_t used = 0;
    int64_t value = std::stoll(text, &used);
    if (used == text.size() && value > 0) return value;
  } catch (const std::exception&) {
  }
  throw CLI::ValidationError("size", "expected a positive integer or BASE^EXP, got '" + text + "'");
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
  app.add_option("--filter", filters, "only kernels whose name contains one of these substrings");
  app.add_option("--sizes", size_texts,
                 "element counts for the bandwidth sweeps, e.g. 4096 or 2^20 "
                 "(default 2^16..2^28 in powers of 4 on CUDA, 2^16..2^24 on the CPU)");
  app.add_option("--gemm-sizes", gemm_size_texts,
                 "M = N = K of the GEMM cases (default 512..4096 on CUDA, 256..2048 on the CPU)");
  app.add_option("--repeats", repeats, "timed calls per figure, median reported (default 100 CUDA, 20 CPU)")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed calls first (default 10 CUDA, 3 CPU)")->check(CLI::NonNegativeNumber);
  app.add_option("--check-limit", run_options.check_limit,
                 "check against the CPU only up to this many elements (default 2^26)");
  app.add_option("--max-sets", run_options.max_sets, "most workloads rotated per figure")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "CPU threads for Ember's CPU kernels (default: all)");
  app.add_option("--json", json_path, "also write the results to this JSON file");
  app.add_flag("--list", list_only, "list the selected cases and exit");
  CLI11_PARSE(app, argc, argv);

  try {
    const bool cuda = device_name == "cuda";
    if (threads > 0) ember::kernels::cpu::set_num_threads(threads);
    bench::CaseOptions case_options;
    case_options.cuda = cuda;
    for (const auto& s : size_texts) case_options.sizes.push_back(parse_size(s));
    for (const auto& s : gemm_size_texts) case_options.gemm_sizes.push_back(parse_size(s));
    if (case_options.sizes.empty()) case_options.sizes = cuda ? powers_of_four(16, 28) : powers_of_four(16, 24);
    if (case_options.gemm_sizes.empty())
      case_options.gemm_sizes = cuda ? std::vector<int64_t>{512, 1024, 2048, 4096} : std::vector<int64_t>{256, 512, 1024, 2048};
    run_options.repeats = repeats > 0 ? repeats : (cuda ? 100 : 20);
    run_options.warmup = warmup >= 0 ? warmup : (cuda ? 10 : 3);

    std::vector<bench::BenchCase> cases;
    for (auto& c : bench::build_cases(case_options)) {
      if ((cuda && c.cpu_only) || (!cuda && c.cuda_only) || !matches(c.name, filters)) continue;
      cases.push_back(std::move(c));
    }
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
    std::cerr << "bench_kernels: " << e.what() << "\n";
    return 1;
  }
}
