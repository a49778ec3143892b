// DistributedDataParallel: one process per device, each training a replica of the same module on
// its shard of the batch; gradients are averaged over the ranks during backward, so every replica
// takes the same optimizer step.
//
// How the reducer works: at construction the parameters are grouped into buckets in reverse
// registration order (roughly the order backward produces their gradients), the first bucket
// capped at first_bucket_cap_bytes (so communication starts early), the rest at bucket_cap_bytes.
// Each bucket is one flat buffer and every parameter's .grad is a view into it, so backward
// accumulates straight into the buffer. A grad hook on each parameter marks it ready; when a
// bucket's last parameter is ready its all_reduce(avg) is launched asynchronously (buckets are
// launched in bucket order, the same on every rank) while backward carries on. finalize() waits
// for the buckets and must be called before optimizer.step().
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ember/dist/process_group.h>
#include <ember/nn/module.h>

namespace ember::dist {

struct DDPOptions {
  int64_t bucket_cap_bytes = 25LL << 20;
  int64_t first_bucket_cap_bytes = 1LL << 20;
  // Parameters may get no gradient in an iteration; their (local, usually zero) slot is reduced
  // anyway. Off: such parameters are reported by name, as a bug.
  bool find_unused_parameters = false;
  // Re-broadcast buffers (e.g. running statistics) from rank 0 at every forward.
  bool broadcast_buffers = true;
};

class DistributedDataParallel {
 public:
  // Move the module to its device before wrapping it. Broadcasts rank 0's parameters and buffers
  // and checks that every rank registered the same parameter names, shapes and dtypes.
  DistributedDataParallel(std::shared_ptr<nn::Module> module, std::shared_ptr<ProcessGroup> process_group,
                          DDPOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  // Runs the module; the backward of this forward reduces gradients (unless inside no_sync()).
  Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // Waits for every bucket's reduction (and checks that every parameter got a gradient). Call
  // after backward and before optimizer.step(); a no-op after a no_sync() backward.
  void finalize();

  // RAII: backward passes inside the scope only accumulate local gradients; the first backward
  // after it reduces the sum (gradient accumulation without extra communication).
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const std::shared_ptr<ProcessGroup>& process_group() const { return process_group_; }
  // The buckets as parameter names, in launch order (for tests and logs).
  std::vector<std::vector<std::string>> bucket_layout() const;

  struct Reducer;

 private:
  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<ProcessGroup> process_group_;
  DDPOptions options_;
  bool no_sync_ = false;
  std::shared_ptr<Reducer> reducer_;
};

}  // namespace ember::dist
