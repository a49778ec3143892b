#include <ember/ops/weight_grad_branch.h>

#include <map>
#include <mutex>
#include <utility>

namespace ember::ops {

namespace {

// One side stream per (device, main stream), made on first use and kept (streams live as long as
// the process): work of different main streams never shares a side stream.
cuda::Stream side_stream_of(const cuda::Stream& main) {
  static std::mutex mutex;
  static std::map<std::pair<int, void*>, cuda::Stream> sides;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(main.device(), main.handle());
  auto it = sides.find(key);
  if (it == sides.end()) it = sides.emplace(key, cuda::create_stream(main.device())).first;
  return it->second;
}

}  // namespace

WeightGradBranch::WeightGradBranch(Device device, bool both_needed) {
  if (!both_needed || !device.is_cuda() || !cuda::concurrent_weight_grads()) return;
  main_ = cuda::current_stream(device.index);
  side_ = side_stream_of(main_);
  cuda::stream_wait(side_, main_);  // the branch reads what the current stream has computed so far
  forked_ = true;
}

void WeightGradBranch::join() {
  if (!forked_) return;
  forked_ = false;
  cuda::stream_wait(main_, side_);
}

WeightGradBranch::~WeightGradBranch() {
  try {
    join();
  } catch (...) {  // a destructor must not throw; the error is CUDA's sticky state by now anyway
  }
}

}  // namespace ember::ops
