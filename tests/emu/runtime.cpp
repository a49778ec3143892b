// The CPU emulation of CUDA (see README.md): runs CUDA kernels on the CPU. Blocks run one after another; the threads of a block are
// fibers (own stacks, hand-written x86-64 context switch) scheduled cooperatively: __syncthreads is
// a block barrier, warp shuffles are warp barriers. Also the fake CUDA runtime (device memory that
// the host cannot touch outside kernels/copies, streams, graph capture), fake cuBLAS and cuDNN.
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <cudnn.h>

#include <sys/mman.h>
#include <unistd.h>
#include <execinfo.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
extern "C" int __sanitizer_get_ownership(const volatile void* p);
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace emu {
struct Fiber {
  uint3 idx;
  int linear;
};
Fiber* g_cur = nullptr;
uint3 g_block_idx;
dim3 g_block_dim, g_grid_dim;
}  // namespace emu

extern "C" void emu_switch(void** save_sp, void* new_sp);
asm(R"(
.text
.globl emu_switch
.type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch,.-emu_switch
)");

namespace emu {

// ---------------------------------------------------------------- reporting
static std::atomic<int> g_errors{0}, g_warnings{0};
static std::string g_context;  // the kernel being run
static uint64_t g_launches = 0, g_blocks = 0, g_threads = 0, g_barriers = 0, g_shuffles = 0;

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

static void report_returned(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(Report::kReturned, fmt, ap);
  va_end(ap);
}

int error_count() { return g_errors.load() + g_returned_errors.load(); }

static int env_int(const char* name, int fallback) {
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

static std::recursive_mutex g_mutex;  // one CUDA "device": everything serialised
static cudaError_t g_last_error = cudaSuccess;
static void set_error(cudaError_t e) {
  if (g_last_error == cudaSuccess) g_last_error = e;
}

// ---------------------------------------------------------------- device memory
struct Alloc {
  char* map_base;
  size_t map_size;
  char* ptr;
  size_t size;      // requested
  size_t data_len;  // accessible bytes from the page start to the guard page
  char* data_start;
};
static std::map<uintptr_t, Alloc> g_device;  // by ptr
static std::map<uintptr_t, size_t> g_pinned;
static int g_access_depth = 0;
static const bool g_protect = env_int("EMU_PROTECT", 1) != 0;
static const size_t g_page = static_cast<size_t>(sysconf(_SC_PAGESIZE));

static void set_access(const Alloc& a, bool on) {
  if (!g_protect) return;
  mprotect(a.data_start, a.data_len, on ? PROT_READ | PROT_WRITE : PROT_NONE);
}
struct DeviceAccess {  // device memory readable/writable while one exists
  DeviceAccess() {
    if (g_access_depth++ == 0)
      for (auto& kv : g_device) set_access(kv.second, true);
  }
  ~DeviceAccess() {
    if (--g_access_depth == 0)
      for (auto& kv : g_device) set_access(kv.second, false);
  }
};

static const Alloc* find_device(const void* p) {
  auto it = g_device.upper_bound(reinterpret_cast<uintptr_t>(p));
  if (it == g_device.begin()) return nullptr;
  --it;
  const Alloc& a = it->second;
  uintptr_t q = reinterpret_cast<uintptr_t>(p);
  if (q >= reinterpret_cast<uintptr_t>(a.ptr) && q < reinterpret_cast<uintptr_t>(a.ptr) + std::max<size_t>(a.size, 1))
    return &a;
  return nullptr;
}
static bool is_pinned(const void* p, size_t n) {
  auto it = g_pinned.upper_bound(reinterpret_cast<uintptr_t>(p));
  if (it == g_pinned.begin()) return false;
  --it;
  uintptr_t q = reinterpret_cast<uintptr_t>(p);
  return q >= it->first && q + n <= it->first + it->second;
}

bool check_device_range(const void* p, size_t n, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (n == 0) return true;
  const Alloc* a = find_device(p);
  if (!a) {
    report("%s: %p is not device memory from cudaMalloc", what, p);
    return false;
  }
  if (static_cast<const char*>(p) + n > a->ptr + a->size) {
    report("%s: %zu bytes at %p overrun the device allocation of %zu bytes at %p", what, n, p, a->size,
           static_cast<void*>(a->ptr));
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- streams, graphs
}  // namespace emu

struct CUgraph_st {
  std::vector<std::pair<std::string, std::function<void()>>> nodes;
};
struct CUgraphExec_st {
  std::vector<std::pair<std::string, std::function<void()>>> nodes;
};
struct CUstream_st {
  int id;
  unsigned flags;
  CUgraph_st* capture = nullptr;  // recording into this graph
  bool invalidated = false;
  cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal;
};
struct CUevent_st {
  CUgraph_st* recorded_in_capture = nullptr;
};

namespace emu {
static std::set<cudaStream_t> g_streams;
static CUstream_st g_null_stream{0, 0};
static int g_active_captures = 0;

static CUstream_st* stream_rec(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return &g_null_stream;
  if (!g_streams.count(s)) return nullptr;
  return s;
}

// ---------------------------------------------------------------- trace (EMU_TRACE)
// EMU_TRACE=1 (stderr) or EMU_TRACE=path: one line per kernel launch, cuBLAS/cuDNN call, memcpy,
// memset, synchronisation, cudaMalloc/cudaFree and graph launch, with the host call chain (ember
// frames, symbolised by ASan's symbolizer; EMU_TRACE_STACK=0 leaves it out). Replayed graph nodes
// are listed with EMU_TRACE_REPLAY=1. trace_mark() writes the counts since the previous mark.
static std::string g_detail;  // what the next traced event adds to its name (grid/block, bytes, sizes)
static int g_replaying = 0;   // > 0 while cudaGraphLaunch re-enqueues its nodes
static TraceCounts g_counts, g_mark_counts;
static unsigned long long g_seq = 0;

static FILE* trace_out() {
  static FILE* out = [] {
    const char* v = std::getenv("EMU_TRACE");
    if (!v || !*v || std::strcmp(v, "0") == 0) return static_cast<FILE*>(nullptr);
    if (std::strcmp(v, "1") == 0 || std::strcmp(v, "stderr") == 0) return stderr;
    FILE* f = std::fopen(v, "w");
    if (!f) std::perror("emu: EMU_TRACE file");
    return f;
  }();
  return out;
}
bool trace_enabled() { return trace_out() != nullptr; }

// "ns::f<T>(args) [with ...]" -> "ns::f": template arguments, parameter lists and clone suffixes
// dropped, "(anonymous namespace)::" removed; lambdas keep their "{lambda#N}".
static std::string compact_name(const std::string& full) {
  std::string s = full;
  for (size_t at; (at = s.find("(anonymous namespace)::")) != std::string::npos;) s.erase(at, 23);
  std::string out;
  int angle = 0, paren = 0, square = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (s.compare(i, 8, "operator") == 0 && angle == 0 && paren == 0) {  // operator(), operator<< ...
      size_t j = i + 8;
      while (j < s.size() && s[j] != '(' ) ++j;
      if (s.compare(j, 2, "()") == 0) j += 2;
      out += s.substr(i, j - i);
      i = j - 1;
      continue;
    }
    if (ch == '[') ++square;
    else if (ch == ']') { --square; continue; }
    if (square > 0) continue;
    if (ch == '<') { ++angle; continue; }
    if (ch == '>') { --angle; continue; }
    if (ch == '(') { ++paren; continue; }
    if (ch == ')') { --paren; continue; }
    if (angle == 0 && paren == 0) out += ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The frames (inlined ones first) of one return address: "name@file:line" for Ember's own code
// (the sources mirrored in src/), "" for everything else (std::, the emulator, libc).
static const std::vector<std::string>& frames_of(uintptr_t pc) {
  static std::map<uintptr_t, std::vector<std::string>> cache;
  auto it = cache.find(pc);
  if (it != cache.end()) return it->second;
  std::vector<std::string>& out = cache[pc];
#if EMU_ASAN
  static char buf[16384];
  std::memset(buf, 0, sizeof buf);
  __sanitizer_symbolize_pc(reinterpret_cast<void*>(pc), "%f\t%s:%l", buf, sizeof buf - 2);
  for (const char* p = buf; *p; p += std::strlen(p) + 1) {  // one NUL-terminated string per (inlined) frame
    std::string frame(p);
    size_t tab = frame.find('\t');
    std::string name = compact_name(frame.substr(0, tab)), file = tab == std::string::npos ? "" : frame.substr(tab + 1);
    static const std::string src = EMU_MIRROR;  // the build's mirror of the sources (Makefile)
    if (file.compare(0, src.size(), src) != 0) {
      out.push_back("");
      continue;
    }
    file = file.substr(src.size());
    if (file.compare(0, 4, "std:") == 0) file.clear();
    out.push_back(name + "@" + file);
  }
#endif
  return out;
}

// Ember's frames of the host call stack, innermost first (EMU_TRACE_STACK=2: with file:line).
static std::string host_callers() {
  static const int want = env_int("EMU_TRACE_STACK", 1);  // 0 none, 1 Ember's functions, 2 with file:line
  if (!want) return "";
  void* frames[64];
  int n = backtrace(frames, 64);
  std::string out, last;
  int kept = 0;
  for (int i = 1; i < n && kept < 12; ++i) {
    for (const std::string& full : frames_of(reinterpret_cast<uintptr_t>(frames[i]) - 1)) {
      if (full.empty()) continue;
      std::string name = full.substr(0, full.find('@'));
      // An unqualified name (internal linkage: apply, operator()) keeps its file to say whose it is.
      std::string f = want == 2 ? full : name.find("::") != std::string::npos ? name : full.substr(0, full.rfind(':'));
      if (f == last) continue;
      if (!out.empty()) out += " < ";
      out += f;
      last = f;
      ++kept;
      if (name == "train_mnist::run_training") return out;
    }
  }
  return out;
}

static int stream_id(cudaStream_t s) {
  CUstream_st* rec = stream_rec(s);
  return rec ? rec->id : -1;
}

// category: kernel, library, memcpy, memset, sync, malloc, free, graph, capture-begin/end
static void trace_event(const char* category, const char* what, cudaStream_t stream, const char* mode) {
  FILE* out = trace_out();
  if (!out) return;
  static const bool show_replay = env_int("EMU_TRACE_REPLAY", 0) != 0;
  if (g_replaying && !show_replay) return;
  std::fprintf(out, "#%06llu %-7s %-7s s%d %s%s%s | %s\n", ++g_seq, category, mode, stream_id(stream), what,
               g_detail.empty() ? "" : " ", g_detail.c_str(), g_replaying ? "" : host_callers().c_str());
  if (out != stderr) std::fflush(out);
}

static const char* category_of(const char* what) {
  if (std::strncmp(what, "cudaMemcpy", 10) == 0) return "memcpy";
  if (std::strncmp(what, "cudaMemset", 10) == 0) return "memset";
  if (std::strncmp(what, "cublas", 6) == 0 || std::strncmp(what, "cudnn", 5) == 0) return "library";
  return "kernel";
}

// Counts what the host issued (eager or into a capture); replayed nodes are counted apart.
static void count_event(const char* category, bool capturing) {
  if (g_replaying) {
    ++g_counts.replayed_nodes;
    return;
  }
  if (capturing) ++g_counts.captured_nodes;
  if (std::strcmp(category, "kernel") == 0) ++g_counts.kernels;
  else if (std::strcmp(category, "library") == 0) ++g_counts.library;
  else if (std::strcmp(category, "memcpy") == 0) ++g_counts.memcpys;
  else if (std::strcmp(category, "memset") == 0) ++g_counts.memsets;
}

// A host-side event that queues nothing (sync, malloc, free, ...).
static void trace_host(const char* category, const char* what, cudaStream_t stream) {
  if (std::strcmp(category, "sync") == 0) ++g_counts.syncs;
  if (std::strcmp(category, "malloc") == 0) ++g_counts.mallocs;
  if (std::strcmp(category, "free") == 0) ++g_counts.frees;
  trace_event(category, what, stream, "host");
  g_detail.clear();
}

TraceCounts trace_counts() {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  return g_counts;
}

void trace_mark(const char* label) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  TraceCounts d = g_counts;
  const TraceCounts& m = g_mark_counts;
  d.kernels -= m.kernels; d.library -= m.library; d.memcpys -= m.memcpys; d.memsets -= m.memsets;
  d.syncs -= m.syncs; d.mallocs -= m.mallocs; d.frees -= m.frees; d.graph_launches -= m.graph_launches;
  d.captured_nodes -= m.captured_nodes; d.replayed_nodes -= m.replayed_nodes;
  g_mark_counts = g_counts;
  FILE* out = trace_out();
  if (!out) return;
  std::fprintf(out, "MARK %s | since previous mark: %llu kernels, %llu library, %llu memcpy, %llu memset, "
               "%llu graph launches (%llu nodes replayed), %llu captured, %llu syncs, %llu mallocs, %llu frees\n",
               label, d.kernels, d.library, d.memcpys, d.memsets, d.graph_launches, d.replayed_nodes,
               d.captured_nodes, d.syncs, d.mallocs, d.frees);
  if (out != stderr) std::fflush(out);
}

cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> work) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(stream);
  if (!rec) {
    report("%s on an unknown stream %p", what, static_cast<void*>(stream));
    g_detail.clear();
    return cudaErrorInvalidResourceHandle;
  }
  const char* category = category_of(what);
  bool capturing = rec->capture != nullptr;
  count_event(category, capturing && !rec->invalidated);
  trace_event(category, what, stream, g_replaying ? "replay" : capturing ? "capture" : "eager");
  std::string described = g_detail.empty() ? std::string(what) : std::string(what) + " " + g_detail;
  g_detail.clear();
  if (rec->capture) {
    if (rec->invalidated) return cudaErrorStreamCaptureInvalidated;
    rec->capture->nodes.emplace_back(described, std::move(work));
    return cudaSuccess;
  }
  if (g_active_captures > 0)
    report("WARNING: %s on stream %p runs eagerly while a graph capture is active on another stream "
           "(it will not be part of the graph)", what, static_cast<void*>(stream));
  DeviceAccess access;
  work();
  return cudaSuccess;
}

// ---------------------------------------------------------------- fibers
enum State { kReady, kBlockBarrier, kWarpBarrier, kDone };
struct FiberRec : Fiber {
  void* sp = nullptr;
  char* stack_lo = nullptr;
  size_t stack_size = 0;
  int state = kReady;
  void* site = nullptr;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int kind = 0, arg = 0, width = 32;
  void* fake_stack = nullptr;
};

static const size_t kStack = static_cast<size_t>(env_int("EMU_STACK_KB", 256)) * 1024;
static std::vector<FiberRec> g_fibers;
static void* g_sched_sp = nullptr;
static void* g_sched_fake = nullptr;
static const void* g_main_bottom = nullptr;
static size_t g_main_size = 0;
static const std::function<void()>* g_body = nullptr;
static int g_nthreads = 0, g_live = 0, g_at_block_barrier = 0;
static std::vector<int> g_warp_arrived;
static bool g_abort = false, g_stacks_dirty = false;
static const int g_order = env_int("EMU_ORDER", 0);  // 0 forward, 1 reverse, 2 shuffled
static std::mt19937 g_rng(12345);

static FiberRec* cur() { return static_cast<FiberRec*>(g_cur); }

static void after_switch_in_fiber() {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(cur()->fake_stack, &g_main_bottom, &g_main_size);
#endif
}
static void yield_to_scheduler(bool finished) {
  FiberRec* f = cur();
#if EMU_ASAN
  __sanitizer_start_switch_fiber(finished ? nullptr : &f->fake_stack, g_main_bottom, g_main_size);
#endif
  emu_switch(&f->sp, g_sched_sp);
  after_switch_in_fiber();
}
static void switch_to(FiberRec* f) {
  g_cur = f;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(&g_sched_fake, f->stack_lo, f->stack_size);
#endif
  emu_switch(&g_sched_sp, f->sp);
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(g_sched_fake, nullptr, nullptr);
#endif
}

static std::string where(const FiberRec* f) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", g_block_idx.x, g_block_idx.y, g_block_idx.z,
                f->idx.x, f->idx.y, f->idx.z);
  return buf;
}

static void release_block_barrier() {
  void* site = nullptr;
  bool mixed = false;
  for (int i = 0; i < g_nthreads; ++i) {
    FiberRec& f = g_fibers[i];
    if (f.state != kBlockBarrier) continue;
    if (!site) site = f.site;
    else if (f.site != site) mixed = true;
    f.state = kReady;
  }
  if (mixed) report("WARNING: __syncthreads reached from different call sites in one barrier (divergent barriers)");
  if (g_live != g_nthreads)
    report("__syncthreads completed with %d of %d threads already exited (barrier in divergent code)",
           g_nthreads - g_live, g_nthreads);
  g_at_block_barrier = 0;
}

static int warp_lanes(int warp) { return std::min(32, g_nthreads - warp * 32); }

// All live lanes of `warp` are at a warp barrier: compute every lane's shuffle result.
static void release_warp(int warp) {
  int lanes = warp_lanes(warp);
  FiberRec* first = nullptr;
  for (int l = 0; l < lanes; ++l) {
    FiberRec& f = g_fibers[warp * 32 + l];
    if (f.state == kDone) {
      report("warp shuffle/sync with lane %d of warp %d already exited (%s)", l, warp, where(&f).c_str());
      continue;
    }
    if (!first) first = &f;
    else if (f.site != first->site || f.kind != first->kind || f.mask != first->mask || f.width != first->width)
      report("WARNING: lanes of warp %d meet at different shuffles (site %p vs %p, kind %d vs %d, mask %x vs %x)",
             warp, f.site, first->site, f.kind, first->kind, f.mask, first->mask);
  }
  if (lanes < 32 && first && first->mask == 0xffffffffu)
    report("warp %d has only %d lanes (blockDim %d not a multiple of 32) but shuffles with a full mask", warp, lanes,
           g_nthreads);
  for (int l = 0; l < lanes; ++l) {
    FiberRec& f = g_fibers[warp * 32 + l];
    if (f.state != kWarpBarrier) continue;
    if (f.kind >= 0) {
      int w = f.width;
      if (w <= 0 || w > 32 || (w & (w - 1))) {
        report("shuffle width %d is not a power of two <= 32", w);
        w = 32;
      }
      int base = l & ~(w - 1), src = l;
      switch (f.kind) {
        case 0: src = base + (f.arg & (w - 1)); break;
        case 1: src = (l - base) >= f.arg ? l - f.arg : l; break;
        case 2: src = (l - base) + f.arg < w ? l + f.arg : l; break;
        case 3: src = l ^ f.arg; if ((src & ~(w - 1)) != base) src = l; break;
      }
      if (src >= lanes || g_fibers[warp * 32 + src].state == kDone) {
        report("shuffle by lane %d reads lane %d, which does not exist or exited", l, src);
        f.result = f.value;
      } else {
        const FiberRec& s = g_fibers[warp * 32 + src];
        if (!(f.mask >> src & 1u))
          report("shuffle by lane %d reads lane %d outside its mask %x (undefined)", l, src, f.mask);
        f.result = s.value;
      }
    }
  }
  for (int l = 0; l < lanes; ++l) {
    FiberRec& f = g_fibers[warp * 32 + l];
    if (f.state == kWarpBarrier) f.state = kReady;
  }
  g_warp_arrived[warp] = 0;
}

static int live_lanes(int warp) {
  int n = 0;
  for (int l = 0; l < warp_lanes(warp); ++l)
    if (g_fibers[warp * 32 + l].state != kDone) ++n;
  return n;
}

static void fiber_entry() {
  after_switch_in_fiber();
  (*g_body)();
  FiberRec* f = cur();
  f->state = kDone;
  --g_live;
  int warp = f->linear / 32;
  if (g_warp_arrived[warp] > 0) {
    report("thread %s exited while other lanes of its warp wait at a shuffle/__syncwarp", where(f).c_str());
    if (g_warp_arrived[warp] == live_lanes(warp)) release_warp(warp);
  }
  if (g_at_block_barrier > 0 && g_at_block_barrier == g_live) release_block_barrier();
  yield_to_scheduler(true);
  std::abort();  // never resumed
}

static void init_fiber(FiberRec& f) {
  char* top = f.stack_lo + f.stack_size;
  top = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(top) & ~uintptr_t(15));
#if EMU_ASAN
  // fiber_entry's frame never returns: clear the poison it left behind in the previous block.
  __asan_unpoison_memory_region(top - 16384, 16384);
#endif
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;                                             // fake return address of fiber_entry
  *--sp = reinterpret_cast<uint64_t>(&fiber_entry);      // ret target
  for (int i = 0; i < 6; ++i) *--sp = 0;                 // rbp rbx r12-r15
  *--sp = 0x1F80ull | (0x037Full << 32);                 // mxcsr, x87 control word
  f.sp = sp;
  f.state = kReady;
  f.fake_stack = nullptr;
}

static void ensure_fibers(int n) {
  while (static_cast<int>(g_fibers.size()) < n) {
    FiberRec f;
    size_t total = kStack + g_page;
    char* base = static_cast<char*>(mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (base == MAP_FAILED) {
      std::perror("emu: mmap fiber stack");
      std::abort();
    }
    mprotect(base, g_page, PROT_NONE);  // overflow guard
    f.stack_lo = base + g_page;
    f.stack_size = kStack;
    g_fibers.push_back(f);
  }
}

void syncthreads(void* site) {
  FiberRec* f = cur();
  if (!f) {
    report("__syncthreads called outside a kernel");
    return;
  }
  ++g_barriers;
  f->site = site;
  f->state = kBlockBarrier;
  ++g_at_block_barrier;
  if (g_at_block_barrier == g_live) {
    release_block_barrier();
    return;
  }
  yield_to_scheduler(false);
}

static uint64_t warp_barrier(unsigned mask, uint64_t bits, int kind, int arg, int width, void* site) {
  FiberRec* f = cur();
  if (!f) {
    report("warp intrinsic called outside a kernel");
    return bits;
  }
  if (mask != 0xffffffffu && !(g_nthreads - (f->linear / 32) * 32 < 32))
    report("WARNING: partial shuffle mask %x: the emulator waits for every lane of the warp", mask);
  if (!(mask >> (f->linear % 32) & 1u)) report("lane %d calls a warp intrinsic with mask %x that excludes it", f->linear % 32, mask);
  ++g_shuffles;
  f->site = site;
  f->mask = mask;
  f->value = bits;
  f->kind = kind;
  f->arg = arg;
  f->width = width;
  f->state = kWarpBarrier;
  int warp = f->linear / 32;
  if (++g_warp_arrived[warp] == live_lanes(warp)) {
    release_warp(warp);
    return f->result;
  }
  yield_to_scheduler(false);
  return f->result;
}

uint64_t shuffle(unsigned mask, uint64_t bits, int kind, int arg, int width, void* site) {
  return warp_barrier(mask, bits, kind, arg, width, site);
}
void syncwarp(unsigned mask, void* site) { warp_barrier(mask, 0, -1, 0, 32, site); }

[[noreturn]] void trap() {
  FiberRec* f = cur();
  report("__trap() in %s", where(f).c_str());
  g_abort = true;
  f->state = kDone;
  yield_to_scheduler(true);
  std::abort();
}

static void run_block(const std::function<void()>& body, dim3 block) {
  g_nthreads = static_cast<int>(block.x * block.y * block.z);
  ++g_blocks;
  g_threads += g_nthreads;
  ensure_fibers(g_nthreads);
  if (g_stacks_dirty) {
#if EMU_ASAN
    for (auto& f : g_fibers) __asan_unpoison_memory_region(f.stack_lo, f.stack_size);
#endif
    g_stacks_dirty = false;
  }
  for (int i = 0; i < g_nthreads; ++i) {
    FiberRec& f = g_fibers[i];
    f.linear = i;
    f.idx = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
    init_fiber(f);
  }
  g_warp_arrived.assign((g_nthreads + 31) / 32, 0);
  g_live = g_nthreads;
  g_at_block_barrier = 0;
  g_body = &body;
  std::vector<int> order(g_nthreads);
  for (int i = 0; i < g_nthreads; ++i) order[i] = g_order == 1 ? g_nthreads - 1 - i : i;
  for (;;) {
    if (g_order == 2) std::shuffle(order.begin(), order.end(), g_rng);
    bool ran = false;
    for (int i : order) {
      FiberRec& f = g_fibers[i];
      if (f.state != kReady) continue;
      switch_to(&f);
      ran = true;
      if (g_abort) break;
    }
    if (g_abort) break;
    if (g_live == 0) break;
    if (!ran) {
      int at_block = 0, at_warp = 0;
      std::string detail;
      for (int i = 0; i < g_nthreads; ++i) {
        FiberRec& f = g_fibers[i];
        if (f.state == kBlockBarrier) ++at_block;
        if (f.state == kWarpBarrier) ++at_warp;
        if (f.state != kDone && detail.size() < 400) {
          char buf[96];
          std::snprintf(buf, sizeof buf, " t%d@%s%p", i, f.state == kBlockBarrier ? "sync:" : "warp:", f.site);
          detail += buf;
        }
      }
      report("DEADLOCK in block (%u,%u,%u): %d live threads, %d wait at __syncthreads, %d at warp intrinsics;%s",
             g_block_idx.x, g_block_idx.y, g_block_idx.z, g_live, at_block, at_warp, detail.c_str());
      g_abort = true;
      break;
    }
  }
  if (g_abort) g_stacks_dirty = true;
  g_cur = nullptr;
}

static void scan_args(const LaunchCfg& c, size_t bytes, const void* args) {
#if EMU_ASAN
  // A kernel argument equal to the start of a host heap block is almost surely a host pointer.
  const char* p = static_cast<const char*>(args);
  for (size_t off = 0; off + 8 <= bytes; off += 8) {
    void* v;
    std::memcpy(&v, p + off, 8);
    if (v && !find_device(v) && !is_pinned(v, 1) && __sanitizer_get_ownership(v))
      report("WARNING: kernel %s (%s:%d) gets a host heap pointer %p as an argument (byte %zu of %zu)", c.kernel, c.file, c.line, v, off, bytes);
  }
#else
  (void)c; (void)bytes; (void)args;
#endif
}

static void run_kernel(const LaunchCfg& c, const std::function<void()>& body) {
  DeviceAccess access;
  char ctx[512];
  std::snprintf(ctx, sizeof ctx, "%s at %s:%d grid (%u,%u,%u) block (%u,%u,%u)", c.kernel, c.file, c.line, c.grid.x,
                c.grid.y, c.grid.z, c.block.x, c.block.y, c.block.z);
  g_context = ctx;
  g_grid_dim = c.grid;
  g_block_dim = c.block;
  g_abort = false;
  ++g_launches;
  uint64_t blocks = uint64_t(c.grid.x) * c.grid.y * c.grid.z;
  std::vector<uint64_t> order(blocks);
  for (uint64_t b = 0; b < blocks; ++b) order[b] = g_order == 1 ? blocks - 1 - b : b;
  if (g_order == 2) std::shuffle(order.begin(), order.end(), g_rng);
  for (uint64_t b : order) {
    g_block_idx = uint3{static_cast<unsigned>(b % c.grid.x), static_cast<unsigned>((b / c.grid.x) % c.grid.y),
                        static_cast<unsigned>(b / (uint64_t(c.grid.x) * c.grid.y))};
    run_block(body, c.block);
    if (g_abort) {
      set_error(cudaErrorLaunchFailure);
      break;
    }
  }
  g_context.clear();
}

void launch_impl(const LaunchCfg& c, std::function<void()> body, size_t arg_bytes, const void* args) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  uint64_t threads = uint64_t(c.block.x) * c.block.y * c.block.z;
  if (c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 || c.block.x == 0 || c.block.y == 0 || c.block.z == 0 ||
      threads > 1024 || c.block.x > 1024 || c.block.y > 1024 || c.block.z > 64 || c.grid.y > 65535 ||
      c.grid.z > 65535 || c.grid.x > 2147483647u) {
    report("invalid launch configuration for %s (%s:%d): grid (%u,%u,%u) block (%u,%u,%u)", c.kernel, c.file, c.line,
           c.grid.x, c.grid.y, c.grid.z, c.block.x, c.block.y, c.block.z);
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (c.smem > 48 * 1024) {
    report("dynamic shared memory %zu > 48 KiB for %s without cudaFuncSetAttribute", c.smem, c.kernel);
    set_error(cudaErrorInvalidValue);
    return;
  }
  if (arg_bytes > 4096) report("WARNING: %s kernel arguments take %zu bytes (> 4 KiB before CUDA 12.1)", c.kernel, arg_bytes);
  scan_args(c, arg_bytes, args);
  LaunchCfg copy = c;
  char detail[160];
  std::snprintf(detail, sizeof detail, "grid(%u,%u,%u) block(%u,%u,%u) smem %zu", c.grid.x, c.grid.y, c.grid.z,
                c.block.x, c.block.y, c.block.z, c.smem);
  g_detail = detail;
  cudaError_t e = enqueue(c.stream, c.kernel, [copy, body] { run_kernel(copy, body); });
  if (e != cudaSuccess) set_error(e);
}

}  // namespace emu

using namespace emu;

// ================================================================ the runtime API
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }
cudaError_t cudaGetLastError() {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return g_last_error; }
cudaError_t cudaGetDeviceCount(int* n) {
  *n = env_int("EMU_DEVICES", 1);
  return *n > 0 ? cudaSuccess : cudaErrorNoDevice;
}
static thread_local int t_device = 0;
cudaError_t cudaGetDevice(int* d) {
  *d = t_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  int n = 0;
  cudaGetDeviceCount(&n);
  if (d < 0 || d >= n) {
    report("cudaSetDevice(%d) with %d devices", d, n);
    return cudaErrorInvalidDevice;
  }
  t_device = d;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr attr, int) {
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *v = env_int("EMU_SMS", 4); break;
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrWarpSize: *v = 32; break;
    default: *v = 0; report("WARNING: cudaDeviceGetAttribute(%d) not emulated, returns 0", static_cast<int>(attr));
  }
  return cudaSuccess;
}
static cudaError_t sync_check(const char* what, cudaStream_t s, bool all) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  trace_host("sync", what, s);
  for (cudaStream_t st : g_streams) {
    if (st->capture && (all || st == s)) {
      report_returned("%s while stream %p is capturing: illegal, invalidates the capture", what, static_cast<void*>(st));
      st->invalidated = true;
      return cudaErrorStreamCaptureUnsupported;
    }
  }
  cudaError_t e = g_last_error;  // a sticky kernel fault shows at the next synchronisation
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaDeviceSynchronize() { return sync_check("cudaDeviceSynchronize", nullptr, true); }
cudaError_t cudaDeviceGetStreamPriorityRange(int* least, int* greatest) {
  *least = 0;
  *greatest = -5;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = size_t(16) << 30;
  *total_bytes = size_t(80) << 30;
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** out, size_t size) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  for (cudaStream_t st : g_streams)
    if (st->capture && st->capture_mode != cudaStreamCaptureModeRelaxed)
      report("WARNING: cudaMalloc during a non-relaxed graph capture (CUDA allows it only in relaxed mode)");
  if (size > (size_t(64) << 30)) return cudaErrorMemoryAllocation;
  size_t need = (std::max<size_t>(size, 1) + 255) / 256 * 256;
  size_t data_pages = (need + g_page - 1) / g_page * g_page;
  size_t total = data_pages + g_page;
  char* base = static_cast<char*>(mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (base == MAP_FAILED) return cudaErrorMemoryAllocation;
  mprotect(base + data_pages, g_page, PROT_NONE);
  Alloc a{base, total, base + data_pages - need, size, data_pages, base};
  // Fresh device memory is garbage, not zeros: fill with a NaN pattern.
  std::memset(a.ptr, 0xFF, need);
  g_device[reinterpret_cast<uintptr_t>(a.ptr)] = a;
  if (g_access_depth == 0) set_access(a, false);
  *out = a.ptr;
  g_detail = std::to_string(size) + " bytes";
  trace_host("malloc", "cudaMalloc", nullptr);
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!p) return cudaSuccess;
  auto it = g_device.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_device.end()) {
    report("cudaFree(%p): not a device allocation", p);
    return cudaErrorInvalidValue;
  }
  g_detail = std::to_string(it->second.size) + " bytes";
  trace_host("free", "cudaFree", nullptr);
  munmap(it->second.map_base, it->second.map_size);
  g_device.erase(it);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t size, unsigned int) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  *p = std::malloc(std::max<size_t>(size, 1));
  g_pinned[reinterpret_cast<uintptr_t>(*p)] = size;
  g_detail = std::to_string(size) + " bytes";
  trace_host("malloc", "cudaHostAlloc", nullptr);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t size) { return cudaHostAlloc(p, size, 0); }
cudaError_t cudaFreeHost(void* p) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  auto it = g_pinned.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_pinned.end()) {
    report("cudaFreeHost(%p): not from cudaHostAlloc", p);
    return cudaErrorInvalidValue;
  }
  g_detail = std::to_string(it->second) + " bytes";
  trace_host("free", "cudaFreeHost", nullptr);
  g_pinned.erase(it);
  std::free(p);
  return cudaSuccess;
}

static const char* kind_name(cudaMemcpyKind k) {
  static const char* names[] = {"HostToHost", "HostToDevice", "DeviceToHost", "DeviceToDevice", "Default"};
  return names[k];
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (n == 0) return cudaSuccess;
  bool dst_dev = find_device(dst) != nullptr, src_dev = find_device(src) != nullptr;
  if (kind == cudaMemcpyDefault) kind = dst_dev ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                                : (src_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  char what[96];
  std::snprintf(what, sizeof what, "cudaMemcpyAsync(%s)", kind_name(kind));
  if (dst_dev != want_dst || src_dev != want_src) {
    report("%s: dst %p is %s, src %p is %s", what, dst, dst_dev ? "device" : "host", src, src_dev ? "device" : "host");
    return cudaErrorInvalidValue;
  }
  if (want_dst && !check_device_range(dst, n, what)) return cudaErrorInvalidValue;
  if (want_src && !check_device_range(src, n, what)) return cudaErrorInvalidValue;
  CUstream_st* rec = stream_rec(stream);
  if (rec && rec->capture && (!want_dst || !want_src)) {
    const void* host = want_dst ? src : dst;
    if (!is_pinned(host, n))
      report("WARNING: %s of pageable host memory captured into a graph (CUDA rejects or makes it unsafe)", what);
  }
  g_detail = std::to_string(n) + " bytes" + (want_dst && want_src ? "" : is_pinned(want_dst ? src : dst, n) ? " (pinned host)" : " (pageable host)");
  return enqueue(stream, what, [=] { std::memmove(dst, src, n); });
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, nullptr);
  return e != cudaSuccess ? e : sync_check("cudaMemcpy", nullptr, false);
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t n, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (n == 0) return cudaSuccess;
  if (!check_device_range(dst, n, "cudaMemsetAsync")) return cudaErrorInvalidValue;
  g_detail = std::to_string(n) + " bytes value " + std::to_string(value);
  return enqueue(stream, "cudaMemsetAsync", [=] { std::memset(dst, value, n); });
}
cudaError_t cudaMemset(void* dst, int value, size_t n) { return cudaMemsetAsync(dst, value, n, nullptr); }

cudaError_t cudaStreamCreateWithPriority(cudaStream_t* s, unsigned int flags, int) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  static int next = 1;
  *s = new CUstream_st{next++, flags};
  g_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) { return cudaStreamCreateWithPriority(s, flags, 0); }
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithPriority(s, 0, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!g_streams.erase(s)) return cudaErrorInvalidResourceHandle;
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!stream_rec(s)) {
    report("cudaStreamSynchronize on unknown stream %p", static_cast<void*>(s));
    return cudaErrorInvalidResourceHandle;
  }
  return sync_check("cudaStreamSynchronize", s, s == nullptr);
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* st) {
  CUstream_st* rec = stream_rec(s);
  *st = rec && rec->capture ? (rec->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive)
                            : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec || !e) return cudaErrorInvalidResourceHandle;
  e->recorded_in_capture = rec->capture;
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec || !e) return cudaErrorInvalidResourceHandle;
  if (e->recorded_in_capture && rec->capture != e->recorded_in_capture) {
    report("WARNING: stream %p waits on an event recorded during capture: it joins the capture (emulated: it does not)",
           static_cast<void*>(s));
  }
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  trace_host("sync", "cudaEventSynchronize", nullptr);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 0.001f;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec) return cudaErrorInvalidResourceHandle;
  if (rec == &g_null_stream) {
    report("cudaStreamBeginCapture on the legacy default stream");
    return cudaErrorStreamCaptureUnsupported;
  }
  if (rec->capture) return cudaErrorIllegalState;
  rec->capture = new CUgraph_st;
  rec->capture_mode = mode;
  rec->invalidated = false;
  ++g_active_captures;
  trace_event("graph", "cudaStreamBeginCapture", s, "host");
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec || !rec->capture) return cudaErrorIllegalState;
  --g_active_captures;
  CUgraph_st* graph = rec->capture;
  g_detail = std::to_string(graph->nodes.size()) + " nodes" + (rec->invalidated ? " (invalidated)" : "");
  trace_event("graph", "cudaStreamEndCapture", s, "host");
  g_detail.clear();
  rec->capture = nullptr;
  if (rec->invalidated) {
    delete graph;
    *g = nullptr;
    rec->invalidated = false;
    return cudaErrorStreamCaptureInvalidated;
  }
  *g = graph;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  if (!g) return cudaErrorInvalidValue;
  *e = new CUgraphExec_st{g->nodes};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!e) return cudaErrorInvalidValue;
  ++g_counts.graph_launches;
  g_detail = std::to_string(e->nodes.size()) + " nodes";
  trace_event("graph", "cudaGraphLaunch", s, stream_rec(s) && stream_rec(s)->capture ? "capture" : "eager");
  g_detail.clear();
  ++g_replaying;
  for (auto& node : e->nodes) {
    cudaError_t err = enqueue(s, node.first.c_str(), node.second);
    if (err != cudaSuccess) {
      --g_replaying;
      return err;
    }
  }
  --g_replaying;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}

// ================================================================ cuBLAS
struct cublasContext {
  cudaStream_t stream = nullptr;
};
cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    default: return "CUBLAS_STATUS_OTHER";
  }
}
const char* cublasGetStatusString(cublasStatus_t s) { return cublasGetStatusName(s); }

template <typename T>
static cublasStatus_t gemm_sb(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const T* alpha, const T* A, int lda, long long sa, const T* B, int ldb, long long sb,
                              const T* beta, T* C, int ldc, long long sc, int batch) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, ta == CUBLAS_OP_N ? m : k) ||
      ldb < std::max(1, tb == CUBLAS_OP_N ? k : n) || ldc < std::max(1, m)) {
    report("cublas?gemmStridedBatched: invalid value m %d n %d k %d lda %d ldb %d ldc %d batch %d (ta %d tb %d)", m, n,
           k, lda, ldb, ldc, batch, ta, tb);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  // Extents touched per operand, in elements.
  long long a_cols = ta == CUBLAS_OP_N ? k : m, a_rows = ta == CUBLAS_OP_N ? m : k;
  long long b_cols = tb == CUBLAS_OP_N ? n : k, b_rows = tb == CUBLAS_OP_N ? k : n;
  for (int b = 0; b < batch; ++b) {
    if (k > 0) {
      if (!check_device_range(A + b * sa, size_t((a_cols - 1) * lda + a_rows) * sizeof(T), "cublas gemm A")) return CUBLAS_STATUS_INVALID_VALUE;
      if (!check_device_range(B + b * sb, size_t((b_cols - 1) * ldb + b_rows) * sizeof(T), "cublas gemm B")) return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (!check_device_range(C + b * sc, size_t((n - 1) * ldc + m) * sizeof(T), "cublas gemm C")) return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (sc < static_cast<long long>(ldc) * n && batch > 1)
    report("WARNING: cublas gemm: C batches overlap (strideC %lld < ldc*n %lld)", sc, static_cast<long long>(ldc) * n);
  T al = *alpha, be = *beta;
  char detail[160];
  std::snprintf(detail, sizeof detail, "%s m %d n %d k %d batch %d op %c%c", sizeof(T) == 4 ? "S" : "D", m, n, k, batch,
                ta == CUBLAS_OP_N ? 'N' : 'T', tb == CUBLAS_OP_N ? 'N' : 'T');
  g_detail = detail;
  enqueue(h->stream, "cublasGemmStridedBatched", [=] {
    for (int b = 0; b < batch; ++b) {
      const T* a = A + b * sa;
      const T* bb = B + b * sb;
      T* c = C + b * sc;
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
          double acc = 0;
          for (int p = 0; p < k; ++p) {
            T av = ta == CUBLAS_OP_N ? a[i + static_cast<long long>(p) * lda] : a[p + static_cast<long long>(i) * lda];
            T bv = tb == CUBLAS_OP_N ? bb[p + static_cast<long long>(j) * ldb] : bb[j + static_cast<long long>(p) * ldb];
            acc += av * bv;
          }
          T& out = c[i + static_cast<long long>(j) * ldc];
          out = be == T(0) ? al * T(acc) : al * T(acc) + be * out;
        }
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                         long long sc, int batch) {
  return gemm_sb(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double* alpha, const double* A, int lda, long long sa,
                                         const double* B, int ldb, long long sb, const double* beta, double* C,
                                         int ldc, long long sc, int batch) {
  return gemm_sb(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}

// ================================================================ cuDNN
struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {
  int n = 0, c = 0, h = 0, w = 0;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  bool set = false;
};
struct cudnnFilterStruct {
  int k = 0, c = 0, h = 0, w = 0;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  bool set = false;
};
struct cudnnConvolutionStruct {
  int ph = 0, pw = 0, sh = 1, sw = 1, dh = 1, dw = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  bool set = false;
};
const char* cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS_OTHER";
  }
}
cudnnStatus_t cudnnCreate(cudnnHandle_t* h) {
  *h = new cudnnContext;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
  delete h;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
  h->stream = s;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  *d = new cudnnTensorStruct;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
static cudnnStatus_t bad(const char* what) {
  report("cuDNN: %s", what);
  return CUDNN_STATUS_BAD_PARAM;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f, cudnnDataType_t t, int n,
                                         int c, int h, int w) {
  if (f != CUDNN_TENSOR_NCHW) return bad("only NCHW emulated");
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return bad("cudnnSetTensor4dDescriptor: a dimension <= 0");
  *d = {n, c, h, w, t, true};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  *d = new cudnnFilterStruct;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f, int k,
                                         int c, int h, int w) {
  if (f != CUDNN_TENSOR_NCHW) return bad("only NCHW filters emulated");
  if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return bad("cudnnSetFilter4dDescriptor: a dimension <= 0");
  *d = {k, c, h, w, t, true};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  *d = new cudnnConvolutionStruct;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw, int u, int v, int dh,
                                              int dw, cudnnConvolutionMode_t mode, cudnnDataType_t t) {
  if (ph < 0 || pw < 0 || u <= 0 || v <= 0 || dh <= 0 || dw <= 0) return bad("cudnnSetConvolution2dDescriptor: bad values");
  d->ph = ph; d->pw = pw; d->sh = u; d->sw = v; d->dh = dh; d->dw = dw; d->mode = mode; d->type = t; d->set = true;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
  d->math = m;
  return CUDNN_STATUS_SUCCESS;
}

static size_t dsize(cudnnDataType_t t) { return t == CUDNN_DATA_DOUBLE ? 8 : 4; }
static size_t tbytes(const cudnnTensorStruct* d) { return size_t(d->n) * d->c * d->h * d->w * dsize(d->type); }
static size_t fbytes(const cudnnFilterStruct* d) { return size_t(d->k) * d->c * d->h * d->w * dsize(d->type); }

// Shapes consistent with y = conv(x, w)?
static cudnnStatus_t check_conv(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                cudnnTensorDescriptor_t y) {
  if (!x->set || !w->set || !c->set || !y->set) return bad("descriptor used before being set");
  if (x->type != w->type || x->type != y->type) return bad("data types of x, w, y differ");
  if (c->type != x->type) report("WARNING: cuDNN: convolution compute type differs from the data type");
  if (c->mode != CUDNN_CROSS_CORRELATION) return bad("only cross-correlation emulated");
  if (x->c != w->c) return bad("x channels != filter channels");
  int p = (x->h + 2 * c->ph - c->dh * (w->h - 1) - 1) / c->sh + 1;
  int q = (x->w + 2 * c->pw - c->dw * (w->w - 1) - 1) / c->sw + 1;
  if (y->n != x->n || y->c != w->k || y->h != p || y->w != q) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "output descriptor %dx%dx%dx%d, expected %dx%dx%dx%d", y->n, y->c, y->h, y->w, x->n,
                  w->k, p, q);
    return bad(buf);
  }
  return CUDNN_STATUS_SUCCESS;
}

// Two candidates: algo 1 uses tensor cores (TF32), algo 0 FMA; both need a workspace.
template <typename Perf, typename Algo>
static void fill_perf(int requested, int* returned, Perf* perf) {
  Perf tf32{static_cast<Algo>(1), CUDNN_STATUS_SUCCESS, 0.1f, size_t(1) << 20, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH, {}};
  Perf fma{static_cast<Algo>(0), CUDNN_STATUS_SUCCESS, 0.2f, 4096, CUDNN_DETERMINISTIC, CUDNN_DEFAULT_MATH, {}};
  *returned = 0;
  if (requested >= 1) perf[(*returned)++] = tf32;
  if (requested >= 2) perf[(*returned)++] = fma;
}
static size_t algo_workspace(int algo) { return algo == 1 ? size_t(1) << 20 : 4096; }

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                                     cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y,
                                                     int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  cudnnStatus_t s = check_conv(x, w, c, y);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  fill_perf<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(requested, returned, perf);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
                                                          cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t dx,
                                                          int requested, int* returned,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  cudnnStatus_t s = check_conv(dx, w, c, dy);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  fill_perf<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(requested, returned, perf);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
                                                            cudnnConvolutionDescriptor_t c, cudnnFilterDescriptor_t w,
                                                            int requested, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  cudnnStatus_t s = check_conv(x, w, c, dy);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  fill_perf<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(requested, returned, perf);
  return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t check_ws(int algo, void* ws, size_t bytes, const char* what) {
  if (algo != 0 && algo != 1) return bad("algorithm not returned by the heuristics");
  if (algo == 1) report("WARNING: cuDNN %s runs the tensor-core (TF32) algorithm", what);
  if (bytes < algo_workspace(algo)) return bad("workspace smaller than the algorithm needs");
  if (!check_device_range(ws, algo_workspace(algo), "cuDNN workspace")) return CUDNN_STATUS_BAD_PARAM;
  return CUDNN_STATUS_SUCCESS;
}

struct ConvGeo {
  int N, C, H, W, K, R, S, P, Q, ph, pw, sh, sw, dh, dw;
};
static ConvGeo geo(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                   cudnnTensorDescriptor_t y) {
  return {x->n, x->c, x->h, x->w, w->k, w->h, w->w, y->h, y->w, c->ph, c->pw, c->sh, c->sw, c->dh, c->dw};
}
// For each (n,k,p,q,c,r,s) tap inside the image: f(x index, w index, y index).
template <typename F>
static void for_taps(const ConvGeo& g, F f) {
  for (int n = 0; n < g.N; ++n)
    for (int k = 0; k < g.K; ++k)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q)
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.R; ++r) {
              int h = p * g.sh - g.ph + r * g.dh;
              if (h < 0 || h >= g.H) continue;
              for (int s = 0; s < g.S; ++s) {
                int w = q * g.sw - g.pw + s * g.dw;
                if (w < 0 || w >= g.W) continue;
                f(((size_t(n) * g.C + c) * g.H + h) * g.W + w, ((size_t(k) * g.C + c) * g.R + r) * g.S + s,
                  ((size_t(n) * g.K + k) * g.P + p) * g.Q + q);
              }
            }
}

template <typename T>
static void conv_compute(int pass, ConvGeo g, const void* alpha_p, const void* beta_p, const T* x, const T* w, const T* dy,
                         T* out, size_t out_count) {
  T alpha = *static_cast<const T*>(alpha_p), beta = *static_cast<const T*>(beta_p);
  std::vector<double> acc(out_count, 0.0);  // cuDNN's reductions are far more accurate than a naive float sum
  if (pass == 0) for_taps(g, [&](size_t xi, size_t wi, size_t yi) { acc[yi] += x[xi] * w[wi]; });
  if (pass == 1) for_taps(g, [&](size_t xi, size_t wi, size_t yi) { acc[xi] += dy[yi] * w[wi]; });
  if (pass == 2) for_taps(g, [&](size_t xi, size_t wi, size_t yi) { acc[wi] += dy[yi] * x[xi]; });
  for (size_t i = 0; i < out_count; ++i) {
    T a = static_cast<T>(acc[i]);
    out[i] = beta == T(0) ? alpha * a : alpha * a + beta * out[i];
  }
}

static cudnnStatus_t conv_run(int pass, cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t x, const void* xp,
                              cudnnFilterDescriptor_t w, const void* wp, cudnnConvolutionDescriptor_t c,
                              cudnnTensorDescriptor_t y, const void* yp, void* out, int algo, void* ws, size_t wsb,
                              const void* beta, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  cudnnStatus_t s = check_conv(x, w, c, y);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  s = check_ws(algo, ws, wsb, what);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  if (pass != 1 && !check_device_range(xp, tbytes(x), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 2 && !check_device_range(wp, fbytes(w), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 0 && !check_device_range(yp, tbytes(y), what)) return CUDNN_STATUS_BAD_PARAM;
  size_t out_bytes = pass == 0 ? tbytes(y) : pass == 1 ? tbytes(x) : fbytes(w);
  if (!check_device_range(out, out_bytes, what)) return CUDNN_STATUS_BAD_PARAM;
  ConvGeo g = geo(x, w, c, y);
  bool dbl = x->type == CUDNN_DATA_DOUBLE;
  size_t count = out_bytes / dsize(x->type);
  // alpha/beta are read at call time (host pointers).
  double a = dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  double b = dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  char detail[200];
  std::snprintf(detail, sizeof detail, "x %dx%dx%dx%d w %dx%dx%dx%d algo %d beta %g", g.N, g.C, g.H, g.W, g.K, g.C, g.R,
                g.S, algo, b);
  g_detail = detail;
  enqueue(h->stream, what, [=] {
    if (dbl) {
      conv_compute<double>(pass, g, &a, &b, static_cast<const double*>(xp), static_cast<const double*>(wp),
                           static_cast<const double*>(yp), static_cast<double*>(out), count);
    } else {
      float af = static_cast<float>(a), bf = static_cast<float>(b);
      conv_compute<float>(pass, g, &af, &bf, static_cast<const float*>(xp), static_cast<const float*>(wp),
                          static_cast<const float*>(yp), static_cast<float*>(out), count);
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t xd, const void* x,
                                      cudnnFilterDescriptor_t wd, const void* w, cudnnConvolutionDescriptor_t cd,
                                      cudnnConvolutionFwdAlgo_t algo, void* ws, size_t wsb, const void* beta,
                                      cudnnTensorDescriptor_t yd, void* y) {
  return conv_run(0, h, alpha, xd, x, wd, w, cd, yd, nullptr, y, algo, ws, wsb, beta, "cudnnConvolutionForward");
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha, cudnnFilterDescriptor_t wd, const void* w,
                                           cudnnTensorDescriptor_t dyd, const void* dy, cudnnConvolutionDescriptor_t cd,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t wsb, const void* beta,
                                           cudnnTensorDescriptor_t dxd, void* dx) {
  return conv_run(1, h, alpha, dxd, nullptr, wd, w, cd, dyd, dy, dx, algo, ws, wsb, beta, "cudnnConvolutionBackwardData");
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t xd, const void* x,
                                             cudnnTensorDescriptor_t dyd, const void* dy, cudnnConvolutionDescriptor_t cd,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t wsb,
                                             const void* beta, cudnnFilterDescriptor_t dwd, void* dw) {
  return conv_run(2, h, alpha, xd, x, dwd, nullptr, cd, dyd, dy, dw, algo, ws, wsb, beta, "cudnnConvolutionBackwardFilter");
}

// C = alpha * A + beta * C, A broadcast along its size-1 dims; db = alpha * sum(dy over n, h, w) + beta * db.
template <typename T>
static void add_tensor(const cudnnTensorStruct a, const T* A, T alpha, const cudnnTensorStruct c, T* C, T beta) {
  for (int n = 0; n < c.n; ++n)
    for (int ch = 0; ch < c.c; ++ch)
      for (int h = 0; h < c.h; ++h)
        for (int w = 0; w < c.w; ++w) {
          size_t ci = ((size_t(n) * c.c + ch) * c.h + h) * c.w + w;
          size_t ai = ((size_t(a.n == 1 ? 0 : n) * a.c + (a.c == 1 ? 0 : ch)) * a.h + (a.h == 1 ? 0 : h)) * a.w +
                      (a.w == 1 ? 0 : w);
          C[ci] = beta == T(0) ? alpha * A[ai] : alpha * A[ai] + beta * C[ci];
        }
}
cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t ad, const void* A,
                             const void* beta, cudnnTensorDescriptor_t cd, void* C) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!ad->set || !cd->set || ad->type != cd->type) return bad("cudnnAddTensor: descriptors");
  if ((ad->n != 1 && ad->n != cd->n) || (ad->c != 1 && ad->c != cd->c) || (ad->h != 1 && ad->h != cd->h) ||
      (ad->w != 1 && ad->w != cd->w))
    return bad("cudnnAddTensor: A does not broadcast to C");
  if (!check_device_range(A, tbytes(ad), "cudnnAddTensor A") || !check_device_range(C, tbytes(cd), "cudnnAddTensor C"))
    return CUDNN_STATUS_BAD_PARAM;
  cudnnTensorStruct a = *ad, c = *cd;
  bool dbl = a.type == CUDNN_DATA_DOUBLE;
  double al = dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  double be = dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  g_detail = "C " + std::to_string(c.n) + "x" + std::to_string(c.c) + "x" + std::to_string(c.h) + "x" + std::to_string(c.w);
  enqueue(h->stream, "cudnnAddTensor", [=] {
    if (dbl) add_tensor<double>(a, static_cast<const double*>(A), al, c, static_cast<double*>(C), be);
    else add_tensor<float>(a, static_cast<const float*>(A), float(al), c, static_cast<float*>(C), float(be));
  });
  return CUDNN_STATUS_SUCCESS;
}
template <typename T>
static void bias_grad(const cudnnTensorStruct d, const T* dy, T alpha, T beta, T* db) {
  for (int ch = 0; ch < d.c; ++ch) {
    double s = 0;
    for (int n = 0; n < d.n; ++n)
      for (int i = 0; i < d.h * d.w; ++i) s += dy[(size_t(n) * d.c + ch) * d.h * d.w + i];
    db[ch] = beta == T(0) ? alpha * T(s) : alpha * T(s) + beta * db[ch];
  }
}
cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t dyd, const void* dy,
                                           const void* beta, cudnnTensorDescriptor_t dbd, void* db) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!dyd->set || !dbd->set || dyd->type != dbd->type) return bad("cudnnConvolutionBackwardBias: descriptors");
  if (dbd->n != 1 || dbd->c != dyd->c || dbd->h != 1 || dbd->w != 1) return bad("cudnnConvolutionBackwardBias: db must be 1xCx1x1");
  if (!check_device_range(dy, tbytes(dyd), "cudnnConvolutionBackwardBias dy") ||
      !check_device_range(db, tbytes(dbd), "cudnnConvolutionBackwardBias db"))
    return CUDNN_STATUS_BAD_PARAM;
  cudnnTensorStruct d = *dyd;
  bool dbl = d.type == CUDNN_DATA_DOUBLE;
  double al = dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  double be = dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  g_detail = "dy " + std::to_string(d.n) + "x" + std::to_string(d.c) + "x" + std::to_string(d.h) + "x" + std::to_string(d.w);
  enqueue(h->stream, "cudnnConvolutionBackwardBias", [=] {
    if (dbl) bias_grad<double>(d, static_cast<const double*>(dy), al, be, static_cast<double*>(db));
    else bias_grad<float>(d, static_cast<const float*>(dy), float(al), float(be), static_cast<float*>(db));
  });
  return CUDNN_STATUS_SUCCESS;
}

// cudnnFind*Ex: times every algorithm by running it (synchronously), so it overwrites the output
// buffer with garbage; not allowed while capturing.
template <typename Perf, typename Algo>
static cudnnStatus_t find_ex(cudnnHandle_t h, cudnnTensorDescriptor_t x, const void* xp, cudnnFilterDescriptor_t w,
                             const void* wp, cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y, const void* yp,
                             void* out, size_t out_bytes, int requested, int* returned, Perf* perf, void* ws,
                             size_t wsb, int pass, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  cudnnStatus_t s = check_conv(x, w, c, y);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  CUstream_st* rec = stream_rec(h->stream);
  if (rec && rec->capture) {
    report_returned("%s during graph capture (it synchronises)", what);
    rec->invalidated = true;
    return CUDNN_STATUS_NOT_SUPPORTED;
  }
  if (pass != 1 && !check_device_range(xp, tbytes(x), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 2 && !check_device_range(wp, fbytes(w), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 0 && !check_device_range(yp, tbytes(y), what)) return CUDNN_STATUS_BAD_PARAM;
  if (!check_device_range(out, out_bytes, what)) return CUDNN_STATUS_BAD_PARAM;
  if (wsb > 0 && !check_device_range(ws, wsb, what)) return CUDNN_STATUS_BAD_PARAM;
  g_detail = "(synchronous: times every algorithm) workspace " + std::to_string(wsb) + " bytes";
  ++g_counts.library;
  trace_event("library", what, h->stream, "sync");
  g_detail.clear();
  {
    DeviceAccess access;
    std::memset(out, 0xFF, out_bytes);  // the timing runs leave garbage behind
  }
  int all = 0;
  Perf tmp[2];
  fill_perf<Perf, Algo>(2, &all, tmp);
  *returned = 0;
  for (int i = 0; i < all && *returned < requested; ++i) {
    if (tmp[i].memory > wsb) tmp[i].status = CUDNN_STATUS_NOT_SUPPORTED;  // cuDNN reports it as failed/omits it
    perf[(*returned)++] = tmp[i];
  }
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t xd, const void* x,
                                                     cudnnFilterDescriptor_t wd, const void* w, cudnnConvolutionDescriptor_t cd,
                                                     cudnnTensorDescriptor_t yd, void* y, int requested, int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf, void* ws, size_t wsb) {
  return find_ex<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(h, xd, x, wd, w, cd, yd, nullptr, y, tbytes(yd),
      requested, returned, perf, ws, wsb, 0, "cudnnFindConvolutionForwardAlgorithmEx");
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t h, cudnnFilterDescriptor_t wd, const void* w,
                                                          cudnnTensorDescriptor_t dyd, const void* dy,
                                                          cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t dxd, void* dx,
                                                          int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf,
                                                          void* ws, size_t wsb) {
  return find_ex<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(h, dxd, nullptr, wd, w, cd, dyd, dy, dx,
      tbytes(dxd), requested, returned, perf, ws, wsb, 1, "cudnnFindConvolutionBackwardDataAlgorithmEx");
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t xd, const void* x,
                                                            cudnnTensorDescriptor_t dyd, const void* dy,
                                                            cudnnConvolutionDescriptor_t cd, cudnnFilterDescriptor_t dwd, void* dw,
                                                            int requested, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws, size_t wsb) {
  return find_ex<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(h, xd, x, dwd, nullptr, cd, dyd, dy, dw,
      fbytes(dwd), requested, returned, perf, ws, wsb, 2, "cudnnFindConvolutionBackwardFilterAlgorithmEx");
}

extern "C" void emu_trace_mark(const char* label) { emu::trace_mark(label); }
