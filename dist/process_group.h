// ProcessGroup: the collectives a distributed run needs (all_reduce, broadcast, all_gather,
// barrier) over one of two backends: NCCL (CUDA tensors, one rank per GPU) and Gloo (CPU tensors,
// and CUDA tensors staged through pinned host memory). Every rank must call the same collectives
// in the same order. Collectives fail with ember::Error (never hang) when a peer dies or does not
// answer within the group's timeout.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <ember/core/tensor.h>
#include <ember/dist/env.h>
#include <ember/dist/store.h>

namespace ember::dist {

enum class ReduceOp { Sum, Avg };

// An asynchronous collective. wait() blocks until the result is in the tensor (for CUDA tensors:
// until it is ordered before later work on the caller's current stream) and rethrows its error.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool is_completed() = 0;
};

// The store of a run: rank 0 hosts the server, every rank holds a client.
struct Rendezvous {
  std::unique_ptr<TCPStoreServer> server;  // rank 0 only
  std::shared_ptr<TCPStore> store;
  // Connects to (rank 0: starts) the store of env's run.
  static std::shared_ptr<Rendezvous> connect(const DistEnv& env, std::chrono::milliseconds timeout);
};

class ProcessGroup {
 public:
  ProcessGroup(int rank, int size, std::shared_ptr<Rendezvous> rendezvous, std::chrono::milliseconds timeout)
      : rank_(rank), size_(size), rendezvous_(std::move(rendezvous)), timeout_(timeout) {}
  virtual ~ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  virtual std::string backend() const = 0;

  // In place on a contiguous tensor; Avg needs a floating dtype.
  virtual std::shared_ptr<Work> all_reduce_async(const Tensor& tensor, ReduceOp op) = 0;
  void all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::Sum) { all_reduce_async(tensor, op)->wait(); }
  // In place: every rank ends with root's values.
  virtual void broadcast(const Tensor& tensor, int root) = 0;
  // Returns a new tensor of shape [size, *tensor.sizes()] holding every rank's tensor, rank order.
  virtual Tensor all_gather(const Tensor& tensor) = 0;
  virtual void barrier() = 0;

  const std::shared_ptr<TCPStore>& store() const { return rendezvous_->store; }

 protected:
  // Checks the arguments every backend needs: defined, contiguous, floating for Avg.
  void check_collective(const char* name, const Tensor& tensor, ReduceOp op = ReduceOp::Sum) const;

  int rank_;
  int size_;
  std::shared_ptr<Rendezvous> rendezvous_;
  std::chrono::milliseconds timeout_;
};

// backend: "gloo" or "nccl" (or "auto": nccl when CUDA devices and NCCL are there, gloo otherwise).
// A backend Ember was built without is refused with a clear message. The timeout bounds the
// rendezvous and every collective. If SIGPIPE still has its default action, a no-op handler is
// installed, so that a peer's death fails the collective with an error instead of killing this
// process (docs/distributed.md, "Faults and timeouts").
std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend, const DistEnv& env,
                                                 std::chrono::milliseconds timeout = std::chrono::seconds(300));

bool gloo_available();
bool nccl_available();

namespace detail {
// Backend factories, defined in dist/gloo and dist/nccl when those are built.
std::shared_ptr<ProcessGroup> make_gloo_process_group(const DistEnv& env, std::shared_ptr<Rendezvous> rendezvous,
                                                      std::chrono::milliseconds timeout);
std::shared_ptr<ProcessGroup> make_nccl_process_group(const DistEnv& env, std::shared_ptr<Rendezvous> rendezvous,
                                                      std::chrono::milliseconds timeout);
}  // namespace detail

}  // namespace ember::dist
