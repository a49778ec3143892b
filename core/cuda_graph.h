// cuda::Graph: records the work queued on the current CUDA stream between capture_begin() and
// capture_end() once, then replays it with one launch (cudaGraphLaunch) instead of one launch per
// kernel: what a small model's training step needs, since it is launch-bound.
//
// Rules of capture (as for torch.cuda.CUDAGraph): the current stream must not be the default
// stream; nothing captured may synchronise with the host (no item(), no copy to the CPU); every
// tensor the step reads or writes must live at a fixed address across replays (copy new inputs
// into the same tensors before each replay); host-side values baked into kernels at capture time
// (a learning rate, say) need a new capture when they change. Memory allocated during capture comes
// from a private pool of the caching allocator that belongs to the graph, so that allocations
// outside the graph never take addresses a replay writes to.
#pragma once
#include <ember/core/cuda.h>

#include <functional>

namespace ember::cuda {

class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  void capture_begin();
  void capture_end();
  // capture_begin(); work(); capture_end(), and if any of it throws, the capture is ended and
  // dropped before the exception propagates: the graph stays empty and the stream usable. Nothing
  // captured has run, so the device holds what it held before the call.
  void capture(const std::function<void()>& work);
  void replay();
  bool captured() const { return exec_ != nullptr; }
  // Drops the graph and returns its private memory to the allocator's general cache.
  void reset();

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  Stream stream_;
  int pool_ = 0;           // the allocator's private pool id, 0 when none
  bool capturing_ = false;
};

namespace detail {
// The caching allocator's private pools: while a pool is active on a device, allocations there are
// served from (and freed back to) that pool only.
int begin_private_pool(int device);
void end_private_pool(int device);
void release_private_pool(int device, int pool);
}  // namespace detail

}  // namespace ember::cuda
