#include <ember/dist/data_parallel.h>

#include <exception>
#include <thread>

#include <ember/autograd/grad_mode.h>
#include <ember/core/cuda.h>
#include <ember/core/error.h>
#include <ember/ops/ops.h>

namespace ember::dist {

namespace {

class HostGradReducer : public LocalGradReducer {
 public:
  void sum(const std::vector<TensorList>& grads) override {
    NoGradGuard no_grad;
    for (size_t i = 0; i < grads.front().size(); ++i) {
      Tensor total = grads[0][i].to(kCPU).clone();
      for (size_t d = 1; d < grads.size(); ++d) total.add_(grads[d][i].to(kCPU));
      for (size_t d = 0; d < grads.size(); ++d) Tensor(grads[d][i]).copy_(total);
    }
  }
};

}  // namespace

namespace detail {
std::unique_ptr<LocalGradReducer> make_host_grad_reducer() { return std::make_unique<HostGradReducer>(); }
}  // namespace detail

DataParallel::DataParallel(std::shared_ptr<nn::Module> module, ModuleFactory make_replica, std::vector<Device> devices)
    : module_(std::move(module)), devices_(std::move(devices)) {
  EMBER_CHECK(module_ != nullptr, "DataParallel: needs a module");
  if (devices_.empty()) {
    int n = cuda::is_available() ? cuda::device_count() : 0;
    for (int d = 0; d < n; ++d) devices_.push_back(cuda_device(d));
    if (devices_.empty()) devices_.push_back(kCPU);
  }
  module_->to(devices_.front());
  replicas_.push_back(module_);
  for (size_t d = 1; d < devices_.size(); ++d) {
    EMBER_CHECK(make_replica != nullptr, "DataParallel: ", devices_.size(), " devices need a replica factory");
    auto replica = make_replica();
    replica->to(devices_[d]);
    EMBER_CHECK(replica->parameters().size() == module_->parameters().size(),
                "DataParallel: the replica factory built a module with ", replica->parameters().size(),
                " parameters, the module has ", module_->parameters().size());
    replicas_.push_back(replica);
  }
  bool all_gpus = true;
  std::vector<int> gpus;
  for (const Device& d : devices_) {
    all_gpus = all_gpus && d.is_cuda();
    gpus.push_back(d.index);
  }
#ifdef EMBER_WITH_NCCL
  if (all_gpus && devices_.size() > 1) reducer_ = detail::make_nccl_grad_reducer(gpus);
#endif
  if (!reducer_) reducer_ = detail::make_host_grad_reducer();
  sync_replicas();
}

DataParallel::~DataParallel() = default;

void DataParallel::sync_replicas() {
  NoGradGuard no_grad;
  auto state = module_->state_dict();
  for (size_t d = 1; d < replicas_.size(); ++d) replicas_[d]->load_state_dict(state);
}

double DataParallel::train_step(const Tensor& input, const Tensor& target, const LossFn& loss) {
  const int64_t batch = input.size(0);
  EMBER_CHECK(target.size(0) == batch, "DataParallel: input has ", batch, " rows, target ", target.size(0));
  const auto n = static_cast<int64_t>(replicas_.size());
  EMBER_CHECK(batch >= n, "DataParallel: a batch of ", batch, " cannot be split over ", n, " devices");
  std::vector<double> losses(replicas_.size(), 0.0);
  std::vector<std::exception_ptr> errors(replicas_.size());

  auto run = [&](size_t d) {
    try {
      if (devices_[d].is_cuda()) cuda::set_device(devices_[d].index);
      // Slices as even as possible; each loss weighted by its share of the batch.
      int64_t begin = batch * static_cast<int64_t>(d) / n, end = batch * static_cast<int64_t>(d + 1) / n;
      Tensor x = input.narrow(0, begin, end - begin).to(devices_[d]);
      Tensor y = target.narrow(0, begin, end - begin).to(devices_[d]);
      replicas_[d]->zero_grad();
      Tensor l = loss(replicas_[d]->forward(x), y) * (static_cast<double>(end - begin) / static_cast<double>(batch));
      l.backward();
      losses[d] = l.item();
    } catch (...) {
      errors[d] = std::current_exception();
    }
  };
  if (replicas_.size() == 1) {
    run(0);
  } else {
    std::vector<std::thread> threads;
    for (size_t d = 0; d < replicas_.size(); ++d) threads.emplace_back(run, d);
    for (auto& t : threads) t.join();
  }
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  if (replicas_.size() > 1) {
    std::vector<TensorList> grads;
    for (auto& r : replicas_) {
      grads.emplace_back();
      for (auto& p : r->parameters()) {
        if (!p.grad().defined()) p.set_grad(zeros_like(p));
        grads.back().push_back(p.grad());
      }
    }
    reducer_->sum(grads);
  }
  double total = 0;
  for (double l : losses) total += l;
  return total;
}

}  // namespace ember::dist
