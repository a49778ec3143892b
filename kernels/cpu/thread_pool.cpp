#include <ember/core/threads.h>
#include <ember/kernels/cpu/parallel.h>

#include <ember/core/error.h>
#include <ember/kernels/cpu/blas_setup.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

namespace ember::kernels::cpu {

namespace {

// A fixed pool of workers that run the chunks of one parallel_for at a time; the caller runs
// chunk 0 itself and waits for the rest.
class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop();
    stopping_ = false;
    // New workers start from the current generation: otherwise, after a resize of a pool that has
    // already run jobs, they would take the last (finished) job for a new one.
    try {
      workers_.reserve(static_cast<size_t>(threads - 1));
      for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i, start = generation_] { work(i, start); });
    } catch (const std::exception& e) {
      // Join the workers that did start (a joinable std::thread destroyed calls std::terminate); the
      // pool is left with the caller's thread alone, which parallel_for runs inline.
      size_t started = workers_.size();
      stop();
      EMBER_FAIL("cannot start ", threads, " CPU threads (thread ", started + 2, " failed: ", e.what(), ")");
    }
  }

  void run(int chunks, const std::function<void(int)>& chunk_fn) {
    std::unique_lock<std::mutex> call_lock(call_mutex_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &chunk_fn;
      chunks_ = chunks;
      pending_ = chunks - 1;
      ++generation_;
    }
    wake_.notify_all();
    chunk_fn(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void work(int index, uint64_t seen) {
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        if (index >= chunks_) continue;
        job = job_;
      }
      (*job)(index);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex call_mutex_, mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  int chunks_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

// The count a pool starts with: set_num_threads' when it comes first, else $EMBER_NUM_THREADS, else
// every core. The variable is read strictly: a typo is an error, not silently all cores.
std::atomic<int> first_request{0};
int default_threads() {
  if (int n = first_request.load()) return n;
  const char* env = std::getenv("EMBER_NUM_THREADS");
  if (env == nullptr || *env == '\0') return std::max(1u, std::thread::hardware_concurrency());
  const char* end = env;
  while (*end >= '0' && *end <= '9') ++end;
  EMBER_CHECK(end != env && *end == '\0', "EMBER_NUM_THREADS='", env, "': not a whole number of threads, 1..",
              kMaxThreads);
  // Parsed as a digit string (no overflow: anything past 5 digits is over the cap anyway).
  int64_t n = end - env > 5 ? kMaxThreads + 1 : std::stoll(env);
  EMBER_CHECK(n >= 1 && n <= kMaxThreads, "EMBER_NUM_THREADS=", env, ": the number of CPU threads must be 1..",
              kMaxThreads);
  return static_cast<int>(n);
}

ThreadPool& pool() {
  // One pool owns the cores: OpenBLAS runs single-threaded inside our parallel regions (its own
  // threads would oversubscribe the cores and spin in sched_yield between calls). Every GEMM starts
  // in parallel_for, so BLAS is prepared before its first call. A constructor that throws (a bad
  // $EMBER_NUM_THREADS, no threads to be had) leaves the pool unmade, and the next call tries again.
  static ThreadPool instance((prepare_blas(), default_threads()));
  return instance;
}

thread_local bool inside_parallel_region = false;

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) {
  n = std::max(1, n);
  EMBER_CHECK(n <= kMaxThreads, "set_num_threads(", n, "): at most ", kMaxThreads, " CPU threads");
  first_request.store(n);  // a pool not made yet starts with n threads, not with the default's
  try {
    ThreadPool& p = pool();
    if (p.size() != n) p.resize(n);
  } catch (...) {
    first_request.store(0);  // a pool that could not be made with n is made with the default next time
    throw;
  }
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int threads = num_threads();
  int64_t chunks = std::min<int64_t>(threads, (n + std::max<int64_t>(grain, 1) - 1) / std::max<int64_t>(grain, 1));
  if (chunks <= 1 || inside_parallel_region) {
    fn(0, n);
    return;
  }
  int64_t per_chunk = (n + chunks - 1) / chunks;
  pool().run(static_cast<int>(chunks), [&](int chunk) {
    inside_parallel_region = true;
    int64_t begin = chunk * per_chunk, end = std::min(n, begin + per_chunk);
    if (begin < end) fn(begin, end);
    inside_parallel_region = false;
  });
}

}  // namespace ember::kernels::cpu

namespace ember {
void set_num_threads(int threads) { kernels::cpu::set_num_threads(threads); }
int get_num_threads() { return kernels::cpu::num_threads(); }
}  // namespace ember
