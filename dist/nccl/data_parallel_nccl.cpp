// DataParallel's gradient sum over the GPUs of one process: one communicator per GPU made by
// ncclCommInitAll, and the per-GPU all-reduces issued inside one ncclGroupStart/End (a single
// thread driving several communicators must group them, or it deadlocks).
#include <cuda_runtime.h>

#include <ember/core/cuda.h>
#include <ember/core/error.h>
#include <ember/dist/data_parallel.h>
#include <ember/dist/nccl/nccl_check.h>

namespace ember::dist {
namespace {

class NcclGradReducer : public LocalGradReducer {
 public:
  explicit NcclGradReducer(std::vector<int> gpus) : gpus_(std::move(gpus)), comms_(gpus_.size(), nullptr) {
    EMBER_NCCL_CHECK(ncclCommInitAll(comms_.data(), static_cast<int>(gpus_.size()), gpus_.data()));
  }
  ~NcclGradReducer() override {
    for (ncclComm_t c : comms_) {
      if (c != nullptr) ncclCommDestroy(c);
    }
  }

  void sum(const std::vector<TensorList>& grads) override {
    EMBER_CHECK(grads.size() == gpus_.size(), "DataParallel: ", grads.size(), " gradient lists for ", gpus_.size(),
                " GPUs");
    std::vector<cudaStream_t> streams;
    for (int g : gpus_) streams.push_back(cuda::detail::current_raw_stream(g));
    for (size_t i = 0; i < grads.front().size(); ++i) {
      if (grads.front()[i].numel() == 0) continue;  // nothing to sum; NCCL is not asked about empty buffers
      EMBER_NCCL_CHECK(ncclGroupStart());
      for (size_t d = 0; d < gpus_.size(); ++d) {
        const Tensor& g = grads[d][i];
        EMBER_CHECK(g.is_contiguous(), "DataParallel: gradient ", i, " is not contiguous");
        EMBER_NCCL_CHECK(ncclAllReduce(g.data_ptr(), g.data_ptr(), static_cast<size_t>(g.numel()),
                                       detail::nccl_type(g.dtype()), ncclSum, comms_[d], streams[d]));
      }
      EMBER_NCCL_CHECK(ncclGroupEnd());
    }
  }

 private:
  std::vector<int> gpus_;
  std::vector<ncclComm_t> comms_;
};

}  // namespace

namespace detail {
std::unique_ptr<LocalGradReducer> make_nccl_grad_reducer(const std::vector<int>& gpus) {
  return std::make_unique<NcclGradReducer>(gpus);
}
}  // namespace detail

}  // namespace ember::dist
