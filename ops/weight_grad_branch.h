// Weight gradients beside the data gradients. A layer's weight gradient feeds only the optimizer,
// never the rest of backward, so on a GPU it can run on a second stream while the current stream
// goes on with the data gradient (cuda::set_concurrent_weight_grads(true); off by default). At
// batch 100 each of those GEMMs and convolutions fills a fraction of the GPU, so the two of a layer
// then run at the same time. The branch forks after everything queued so far on the current
// stream and joins back before the node returns, so the node's outputs are ready on the current
// stream as before; inside a CUDA graph capture the fork and join become graph edges.
#pragma once
#include <ember/core/cuda.h>
#include <ember/core/device.h>

namespace ember::ops {

class WeightGradBranch {
 public:
  // Forks when concurrent weight gradients are on, `device` is a GPU and `both_needed` (the node
  // computes a data gradient as well, or there is nothing to overlap); otherwise run() runs here.
  WeightGradBranch(Device device, bool both_needed);
  WeightGradBranch(const WeightGradBranch&) = delete;
  WeightGradBranch& operator=(const WeightGradBranch&) = delete;
  // Joins if join() was not reached (an exception unwinding): best effort, never throws.
  ~WeightGradBranch();

  // work() with the branch's stream current: what it allocates and launches belongs to that stream.
  template <typename Work>
  void run(Work&& work) {
    if (!forked_) return work();
    cuda::StreamGuard on_side(side_);
    work();
  }
  // The current stream waits for everything run() queued.
  void join();

 private:
  bool forked_ = false;
  cuda::Stream main_, side_;
};

}  // namespace ember::ops
