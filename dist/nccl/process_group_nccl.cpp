// The NCCL backend: one rank per GPU, collectives on a dedicated communication stream that is
// ordered against the caller's compute stream with events (compute -> comm before a collective,
// comm -> compute in wait()), so the host never blocks for an all_reduce. A watchdog thread polls
// ncclCommGetAsyncError and the age of unfinished collectives; on an error or a timeout it aborts
// the communicator (which unblocks the GPU) and every later call throws the cause.
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <cuda_runtime.h>

#include <ember/core/cuda.h>
#include <ember/core/error.h>
#include <ember/dist/nccl/nccl_check.h>
#include <ember/dist/process_group.h>

namespace ember::dist {
namespace {

using Clock = std::chrono::steady_clock;

// What the watchdog tracks: the end event of a collective and when it was issued.
struct Pending {
  cudaEvent_t done = nullptr;
  Clock::time_point issued;
  Tensor keep_alive;  // the buffer must outlive the collective
};

class NcclWork : public Work {
 public:
  NcclWork(cudaEvent_t done, int device, std::function<void()> check_healthy)
      : done_(done), device_(device), check_healthy_(std::move(check_healthy)) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  // Orders the caller's current stream after the collective (no host blocking).
  void wait() override {
    check_healthy_();
    EMBER_CUDA_CHECK(cudaStreamWaitEvent(cuda::detail::current_raw_stream(device_), done_, 0));
  }
  bool is_completed() override {
    cudaError_t q = cudaEventQuery(done_);
    if (q == cudaErrorNotReady) cudaGetLastError();  // else the next launch check reports it
    return q == cudaSuccess;
  }

 private:
  cudaEvent_t done_;
  int device_;
  std::function<void()> check_healthy_;
};

class ProcessGroupNccl : public ProcessGroup {
 public:
  ProcessGroupNccl(const DistEnv& env, std::shared_ptr<Rendezvous> rendezvous, std::chrono::milliseconds timeout)
      : ProcessGroup(env.rank, env.world_size, std::move(rendezvous), timeout) {
    int count = cuda::device_count();
    EMBER_CHECK(count > 0, "nccl: no CUDA device is visible to rank ", rank_, "; use --backend gloo on the CPU");
    device_ = env.local_rank % count;
    cuda::set_device(device_);
    check_one_rank_per_gpu();

    // The unique id travels from rank 0 through the store.
    ncclUniqueId id;
    if (rank_ == 0) {
      EMBER_NCCL_CHECK(ncclGetUniqueId(&id));
      store()->set("nccl/unique_id", Bytes(reinterpret_cast<uint8_t*>(&id), reinterpret_cast<uint8_t*>(&id) + sizeof(id)));
    }
    Bytes id_bytes = store()->get("nccl/unique_id");
    EMBER_CHECK(id_bytes.size() == sizeof(id), "nccl: malformed unique id in the store");
    std::memcpy(&id, id_bytes.data(), sizeof(id));

    // Non-blocking init, so that a rank that never arrives cannot hang us past the timeout.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    EMBER_NCCL_CHECK(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
    auto deadline = Clock::now() + timeout;
    for (;;) {
      ncclResult_t state = ncclSuccess;
      EMBER_NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
      if (state == ncclSuccess) break;
      if (state != ncclInProgress || Clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        EMBER_CHECK(state == ncclInProgress, "nccl: communicator init failed on rank ", rank_, ": ",
                    cuda::detail::status_string(state));
        EMBER_FAIL("nccl: communicator init timed out after ", timeout.count() / 1000.0, " s on rank ", rank_,
                   " (did every rank start?)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    comm_stream_ = cuda::create_stream(device_, /*high_priority=*/true);
    watchdog_ = std::thread([this] { watch(); });
  }

  ~ProcessGroupNccl() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    if (comm_ != nullptr && !aborted_) {
      if (broken_.empty()) {
        cudaStreamSynchronize(raw_comm_stream());
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
    }
    for (auto& p : pending_) cudaEventDestroy(p.done);
  }

  std::string backend() const override { return "nccl"; }

  std::shared_ptr<Work> all_reduce_async(const Tensor& tensor, ReduceOp op) override {
    check_collective("all_reduce", tensor, op);
    check_device("all_reduce", tensor);
    void* data = tensor.data_ptr();
    auto n = static_cast<size_t>(tensor.numel());
    ncclRedOp_t nccl_op = op == ReduceOp::Avg ? ncclAvg : ncclSum;
    return launch(tensor, [&](cudaStream_t s) {
      if (n == 0) return;  // see all_gather
      EMBER_NCCL_CHECK(ncclAllReduce(data, data, n, detail::nccl_type(tensor.dtype()), nccl_op, comm_, s));
    });
  }

  void broadcast(const Tensor& tensor, int root) override {
    check_collective("broadcast", tensor);
    check_device("broadcast", tensor);
    EMBER_CHECK(root >= 0 && root < size_, "nccl broadcast: root ", root, " outside a group of ", size_);
    void* data = tensor.data_ptr();
    auto n = static_cast<size_t>(tensor.numel());
    launch(tensor, [&](cudaStream_t s) {
      if (n == 0) return;  // see all_gather
      EMBER_NCCL_CHECK(ncclBroadcast(data, data, n, detail::nccl_type(tensor.dtype()), root, comm_, s));
    })->wait();
  }

  Tensor all_gather(const Tensor& tensor) override {
    check_collective("all_gather", tensor);
    check_device("all_gather", tensor);
    Shape out_shape = tensor.sizes();
    out_shape.insert(out_shape.begin(), size_);
    Tensor output = empty(out_shape, TensorOptions(tensor.dtype()).with_device(tensor.device()));
    // An empty tensor gathers to an empty [size, ...] output (as torch) without calling NCCL: whether
    // NCCL discards a count of 0 or first checks the (possibly null) buffers depends on its version.
    // Still launched, so the ordering and the health check are those of any collective.
    launch(output, [&](cudaStream_t s) {
      if (tensor.numel() == 0) return;
      EMBER_NCCL_CHECK(ncclAllGather(tensor.data_ptr(), output.data_ptr(), static_cast<size_t>(tensor.numel()),
                                     detail::nccl_type(tensor.dtype()), comm_, s));
    })->wait();
    return output;
  }

  // A one-element all_reduce the host waits for (with the timeout enforced by the watchdog).
  void barrier() override {
    Tensor token = zeros({1}, TensorOptions(kFloat32).with_device(cuda_device(device_)));
    all_reduce(token, ReduceOp::Sum);
    for (;;) {
      check_healthy();
      cudaError_t q = cudaStreamQuery(raw_comm_stream());
      if (q == cudaSuccess) break;
      EMBER_CHECK(q == cudaErrorNotReady, "nccl barrier: ", cudaGetErrorString(q));
      cudaGetLastError();  // not-ready is recorded as this thread's last error; the next launch check would see it
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

 private:
  cudaStream_t raw_comm_stream() const { return static_cast<cudaStream_t>(comm_stream_.handle()); }

  void check_device(const char* name, const Tensor& tensor) const {
    EMBER_CHECK(tensor.is_cuda() && tensor.device().index == device_, "nccl ", name, ": rank ", rank_,
                " works on cuda:", device_, ", got ", tensor.str(), " (the gloo backend takes CPU tensors)");
  }

  void check_healthy() {
    std::lock_guard<std::mutex> lock(mutex_);
    EMBER_CHECK(broken_.empty(), broken_);
  }

  // compute stream -> comm stream, issue, record the end event, hand it to the watchdog.
  template <typename Issue>
  std::shared_ptr<Work> launch(const Tensor& tensor, Issue&& issue) {
    check_healthy();
    cuda::set_device(device_);
    cudaStream_t compute = cuda::detail::current_raw_stream(device_);
    cudaStream_t comm = raw_comm_stream();
    cudaEvent_t ready = nullptr, done = nullptr, watched = nullptr;
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    EMBER_CUDA_CHECK(cudaEventRecord(ready, compute));
    EMBER_CUDA_CHECK(cudaStreamWaitEvent(comm, ready, 0));
    cudaEventDestroy(ready);  // released once the wait has been enqueued
    issue(comm);
    wait_enqueued();
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    EMBER_CUDA_CHECK(cudaEventRecord(done, comm));
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&watched, cudaEventDisableTiming));
    EMBER_CUDA_CHECK(cudaEventRecord(watched, comm));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.push_back({watched, Clock::now(), tensor});
    }
    return std::make_shared<NcclWork>(done, device_, [this] { check_healthy(); });
  }

  // A non-blocking communicator may return ncclInProgress before the collective is on the stream
  // (e.g. while its first connections are set up): poll until it is, so that the end event
  // recorded next comes after it. Under the mutex, so the watchdog cannot abort comm_ meanwhile.
  void wait_enqueued() {
    auto deadline = Clock::now() + timeout_;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        EMBER_CHECK(broken_.empty(), broken_);
        ncclResult_t state = ncclSuccess;
        EMBER_NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
        if (state == ncclSuccess) return;
        if (state != ncclInProgress || Clock::now() > deadline) {
          broken_ = state != ncclInProgress
                        ? "nccl: collective failed on rank " + std::to_string(rank_) + ": " +
                              cuda::detail::status_string(state)
                        : "nccl: a collective on rank " + std::to_string(rank_) + " was not enqueued within " +
                              std::to_string(timeout_.count() / 1000.0) + " s (a peer died or hangs); communicator aborted";
          ncclCommAbort(comm_);
          aborted_ = true;
          EMBER_FAIL(broken_);
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // Every 50 ms: NCCL's asynchronous error, and collectives older than the timeout.
  void watch() {
    // Else this thread's first CUDA call would create a context on device 0 (memory on a GPU that
    // may belong to another rank). A failure here surfaces in the event queries below.
    if (cudaSetDevice(device_) != cudaSuccess) cudaGetLastError();
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      if (!broken_.empty()) continue;
      while (!pending_.empty() && cudaEventQuery(pending_.front().done) == cudaSuccess) {
        cudaEventDestroy(pending_.front().done);
        pending_.pop_front();
      }
      cudaGetLastError();  // a not-ready query is recorded as the last error
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      std::string why;
      if (async != ncclSuccess && async != ncclInProgress) {
        why = "nccl: asynchronous error on rank " + std::to_string(rank_) + ": " + cuda::detail::status_string(async);
      } else if (!pending_.empty() && Clock::now() - pending_.front().issued > timeout_) {
        why = "nccl: a collective on rank " + std::to_string(rank_) + " did not finish within " +
              std::to_string(timeout_.count() / 1000.0) + " s (a peer died or hangs); communicator aborted";
      }
      if (!why.empty()) {
        broken_ = why;
        ncclCommAbort(comm_);  // unblocks the kernels waiting for peers
        aborted_ = true;
      }
    }
  }

  // NCCL refuses two ranks on one GPU ("Duplicate GPU detected"); say so in our words, first.
  void check_one_rank_per_gpu() {
    char bus_id[64] = {0};
    EMBER_CUDA_CHECK(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), device_));
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    std::string mine = std::string(host) + "/" + bus_id;
    store()->set("nccl/gpu/" + std::to_string(rank_), mine);
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      std::string theirs = store()->get_string("nccl/gpu/" + std::to_string(r));
      EMBER_CHECK(theirs != mine, "nccl: ranks ", std::min(r, rank_), " and ", std::max(r, rank_),
                  " are on the same GPU (", bus_id, " on ", host,
                  "); NCCL needs one rank per GPU. Start at most as many ranks per node as there are GPUs, or "
                  "use --backend gloo to share a GPU between ranks.");
    }
  }

  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cuda::Stream comm_stream_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  std::string broken_;
  bool aborted_ = false;
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace

namespace detail {
std::shared_ptr<ProcessGroup> make_nccl_process_group(const DistEnv& env, std::shared_ptr<Rendezvous> rendezvous,
                                                      std::chrono::milliseconds timeout) {
  return std::make_shared<ProcessGroupNccl>(env, std::move(rendezvous), timeout);
}
}  // namespace detail

}  // namespace ember::dist
