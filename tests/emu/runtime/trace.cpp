// The launch trace (EMU_TRACE) and the counters behind emu::trace_counts() and trace marks.
#include "internal.h"

#include <execinfo.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace emu {
// EMU_TRACE=1 (stderr) or EMU_TRACE=path: one line per kernel launch, cuBLAS/cuDNN call, memcpy,
// memset, synchronisation, cudaMalloc/cudaFree and graph launch, with the host call chain (ember
// frames, symbolised by ASan's symbolizer; EMU_TRACE_STACK=0 leaves it out). Replayed graph nodes
// are listed with EMU_TRACE_REPLAY=1. trace_mark() writes the counts since the previous mark.
std::string g_detail;  // what the next traced event adds to its name (grid/block, bytes, sizes)
int g_replaying = 0;   // > 0 while cudaGraphLaunch re-enqueues its nodes
TraceCounts g_counts;
static TraceCounts g_mark_counts;
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
void trace_event(const char* category, const char* what, cudaStream_t stream, const char* mode) {
  FILE* out = trace_out();
  if (!out) return;
  static const bool show_replay = env_int("EMU_TRACE_REPLAY", 0) != 0;
  if (g_replaying && !show_replay) return;
  std::fprintf(out, "#%06llu %-7s %-7s s%d %s%s%s | %s\n", ++g_seq, category, mode, stream_id(stream), what,
               g_detail.empty() ? "" : " ", g_detail.c_str(), g_replaying ? "" : host_callers().c_str());
  if (out != stderr) std::fflush(out);
}

const char* category_of(const char* what) {
  if (std::strncmp(what, "cudaMemcpy", 10) == 0) return "memcpy";
  if (std::strncmp(what, "cudaMemset", 10) == 0) return "memset";
  if (std::strncmp(what, "cublas", 6) == 0 || std::strncmp(what, "cudnn", 5) == 0) return "library";
  return "kernel";
}

// Counts what the host issued (eager or into a capture); replayed nodes are counted apart.
void count_event(const char* category, bool capturing) {
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
void trace_host(const char* category, const char* what, cudaStream_t stream) {
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

}  // namespace emu

extern "C" void emu_trace_mark(const char* label) { emu::trace_mark(label); }
