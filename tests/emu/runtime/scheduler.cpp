// Runs kernels: blocks one after another, every thread of a block a fiber with its own stack, switched
// cooperatively by a hand-written x86-64 context switch (annotated for ASan). __syncthreads is a block
// barrier, warp shuffles and __syncwarp are warp barriers; a barrier nobody can complete is a deadlock.
#include "internal.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

namespace emu {
// The same layout as in include/emu_device.h (which the device code includes, this file does not):
// threadIdx reads g_cur->idx.
struct Fiber {
  uint3 idx;
  int linear;
};
Fiber* g_cur = nullptr;
uint3 g_block_idx;
dim3 g_block_dim, g_grid_dim;
}  // namespace emu

// Saves the callee-saved registers and the SSE/x87 control words on the current stack, stores the
// stack pointer in *save_sp and resumes the stack at new_sp: everything a cooperative switch between
// two C++ frames must preserve (the caller-saved registers are dead across a call).
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

// The state of one emulated thread; FiberRec extends the Fiber that the device code reads through
// g_cur (threadIdx), so the kernel body sees only its index.
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
  *--sp = 0;                                             // fiber_entry never returns: a null return address
  *--sp = reinterpret_cast<uint64_t>(&fiber_entry);      // where emu_switch's ret lands the first time
  for (int i = 0; i < 6; ++i) *--sp = 0;                 // rbp rbx r12-r15
  *--sp = 0x1F80ull | (0x037Full << 32);                 // default mxcsr and x87 control word (round to nearest)
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
