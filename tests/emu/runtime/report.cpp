// EMU ERROR / EMU WARNING reporting and the EMU SUMMARY at exit. Errors go to stderr as they happen
// (with the kernel being run), so that a kernel bug shows where it happened even when the test's
// results come out right; the summary turns them into a failing exit status.
#include "internal.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace emu {
static std::atomic<int> g_errors{0}, g_warnings{0};
std::string g_context;  // the kernel being run
uint64_t g_launches = 0, g_blocks = 0, g_threads = 0, g_barriers = 0, g_shuffles = 0;

// kind: "WARNING..." messages are warnings, printed once. Errors are printed up to 20 times each;
// a returned one is an error CUDA also reports to the caller (who may handle it, as a test of the
// failure path does), so it does not fail the run (see Summary).
enum class Report { kError, kReturned };
static std::atomic<int> g_returned_errors{0};

static void vreport(Report kind, const char* fmt, va_list ap) {
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  bool warning = std::strncmp(buf, "WARNING", 7) == 0;
  (warning ? g_warnings : kind == Report::kReturned ? g_returned_errors : g_errors)++;
  static std::map<std::string, int> seen;
  std::string key(buf, std::min<size_t>(std::strlen(buf), 90));
  if (warning && ++seen[key] > 1) return;
  if (!warning && ++seen[key] > 20) return;
  std::fprintf(stderr, "EMU %s%s%s\n", warning ? "" : kind == Report::kReturned ? "ERROR (returned to the caller): " : "ERROR: ",
               buf, g_context.empty() ? "" : (" [in " + g_context + "]").c_str());
  std::fflush(stderr);
#if EMU_ASAN
  static const bool backtrace = std::getenv("EMU_BACKTRACE") != nullptr;
  if (backtrace && !warning) __sanitizer_print_stack_trace();
#endif
}

void report(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(Report::kError, fmt, ap);
  va_end(ap);
}

void report_returned(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(Report::kReturned, fmt, ap);
  va_end(ap);
}

int error_count() { return g_errors.load() + g_returned_errors.load(); }

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// At exit: the counts, and exit status 1 when an EMU ERROR was reported (unless EMU_ERRORS_FAIL=0),
// since a kernel bug the emulator caught may still leave the tests' results right.
static struct Summary {
  ~Summary() {
    std::fprintf(stderr, "EMU SUMMARY: %d errors (and %d returned to the caller), %d warnings; %llu kernels run, %llu blocks, %llu threads, %llu barriers, %llu warp shuffles\n",
                 g_errors.load(), g_returned_errors.load(), g_warnings.load(), (unsigned long long)g_launches, (unsigned long long)g_blocks,
                 (unsigned long long)g_threads, (unsigned long long)g_barriers, (unsigned long long)g_shuffles);
    if (g_errors.load() > 0 && env_int("EMU_ERRORS_FAIL", 1) != 0) {
      std::fflush(nullptr);
      std::_Exit(1);
    }
  }
} g_summary;

std::recursive_mutex g_mutex;  // one CUDA "device": everything serialised
cudaError_t g_last_error = cudaSuccess;
void set_error(cudaError_t e) {
  if (g_last_error == cudaSuccess) g_last_error = e;
}

}  // namespace emu
