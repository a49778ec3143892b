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
// launched in bucket order, the same on every rank) while backward carries on. When the backward
// ends (a callback queued on the autograd engine, as PyTorch's reducer does) the reducer launches
// what is left, waits for every bucket, and only then does backward() return: the gradients are
// averaged when backward returns, with no call to make before optimizer.step().
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
  // anyway, and a parameter no rank used keeps its .grad as it was (undefined stays undefined, so
  // the optimizer skips it), at the cost of one small all-reduce per iteration. Off: such
  // parameters are reported by name, as a bug.
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

  // Runs the module; the backward of this forward reduces gradients (unless inside no_sync() or
  // under no_grad; in eval mode too, as PyTorch's).
  Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // Finishes this iteration's reduction. backward() does so when it ends, so calling this is never
  // needed; it is a no-op then, kept for code written against the explicit call.
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
