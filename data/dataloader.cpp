#include <ember/data/dataloader.h>

#include <cstring>
#include <numeric>
#include <optional>
#include <typeinfo>

#include <ember/autograd/grad_mode.h>
#include <ember/core/cuda.h>
#include <ember/core/error.h>
#include <ember/data/mnist.h>
#include <ember/ops/ops.h>

namespace ember::data {

namespace {

constexpr size_t kQueueDepth = 2;  // batches prepared ahead of the consumer

// A contiguous host tensor, in page-locked memory when it will be copied to a GPU (so the copy
// can run asynchronously).
Tensor host_tensor(const Shape& sizes, DType dtype, bool pinned) {
  if (!pinned) return empty(sizes, dtype);
  size_t nbytes = static_cast<size_t>(shape_numel(sizes)) * element_size(dtype);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(cuda::detail::allocate_pinned(nbytes), nbytes);
  impl->sizes = sizes;
  impl->strides = contiguous_strides(sizes);
  impl->dtype = dtype;
  return Tensor(impl);
}

// rows idx[begin, end) of a contiguous host tensor, stacked.
Tensor gather_rows(const Tensor& src, const std::vector<int64_t>& idx, size_t begin, size_t end, bool pinned) {
  Shape sizes = src.sizes();
  sizes[0] = static_cast<int64_t>(end - begin);
  Tensor out = host_tensor(sizes, src.dtype(), pinned);
  size_t row_bytes = src.size(0) == 0 ? 0 : src.nbytes() / static_cast<size_t>(src.size(0));
  const auto* from = static_cast<const char*>(src.data_ptr());
  auto* to = static_cast<char*>(out.data_ptr());
  for (size_t i = begin; i < end; ++i) {
    std::memcpy(to + (i - begin) * row_bytes, from + static_cast<size_t>(idx[i]) * row_bytes, row_bytes);
  }
  return out;
}

// Examples 0 .. size - 1 of a dataset, stacked: (size, ...data shape) and (size, ...target shape).
Example stack_examples(const Dataset& dataset) {
  const int64_t n = dataset.size();
  EMBER_CHECK(n > 0, "DataLoader: the dataset is empty (size() is ", n, ")");
  NoGradGuard no_grad;
  TensorList data, targets;
  Example first;
  for (int64_t i = 0; i < n; ++i) {
    Example example = dataset.get(i);
    EMBER_CHECK(example.data.defined() && example.target.defined(), "DataLoader: example ", i,
                " of the dataset has an undefined data or target tensor");
    if (i == 0) first = example;
    EMBER_CHECK(example.data.sizes() == first.data.sizes() && example.data.dtype() == first.data.dtype() &&
                    example.target.sizes() == first.target.sizes() && example.target.dtype() == first.target.dtype(),
                "DataLoader: example ", i, " of the dataset (data ", example.data.str(), ", target ",
                example.target.str(), ") differs in shape or dtype from example 0 (data ", first.data.str(),
                ", target ", first.target.str(), ")");
    data.push_back(example.data.detach().unsqueeze(0));
    targets.push_back(example.target.detach().unsqueeze(0));
  }
  return {cat(data, 0), cat(targets, 0)};
}

}  // namespace

DataLoader::DataLoader(const TensorDataset& dataset, DataLoaderOptions options)
    : DataLoader(static_cast<const Dataset&>(dataset), std::move(options)) {}

DataLoader::DataLoader(Tensor data, Tensor targets, DataLoaderOptions options) : options_(std::move(options)) {
  init(std::move(data), std::move(targets));
}

DataLoader::DataLoader(const Dataset& dataset, DataLoaderOptions options) : options_(std::move(options)) {
  // A TensorDataset (or MNIST) is its two tensors; a subclass of it may override get() or size()
  // (a per-example transform), so it is read through them like any other dataset.
  if (typeid(dataset) == typeid(TensorDataset) || typeid(dataset) == typeid(MNIST)) {
    const auto& tensors = static_cast<const TensorDataset&>(dataset);
    init(tensors.data(), tensors.targets());
  } else {
    Example all = stack_examples(dataset);
    init(std::move(all.data), std::move(all.target));
  }
}

void DataLoader::init(Tensor data, Tensor targets) {
  EMBER_CHECK(data.defined() && targets.defined() && data.dim() >= 1 && targets.dim() >= 1 &&
                  data.size(0) == targets.size(0),
              "DataLoader: data and targets need the same first dimension, got ", data.str(), " and ", targets.str());
  EMBER_CHECK(options_.batch_size > 0, "DataLoader: batch_size must be positive, got ", options_.batch_size);
  if (options_.sampler) {
    EMBER_CHECK(options_.sampler->indices().size() == static_cast<size_t>(options_.sampler->num_samples_per_rank()) &&
                    options_.sampler->num_samples_per_rank() <= data.size(0) * options_.sampler->world_size(),
                "DataLoader: the sampler does not fit a dataset of ", data.size(0), " examples");
  }
  NoGradGuard no_grad;
  if (options_.device_resident) {
    data_ = data.detach().to(options_.device).contiguous();
    targets_ = targets.detach().to(options_.device).contiguous();
  } else {
    EMBER_CHECK(data.is_cpu() && targets.is_cpu(), "DataLoader: host-resident data must be on the CPU, got ",
                data.str(), "; use device_resident for data already on a device");
    data_ = data.detach().contiguous();
    targets_ = targets.detach().contiguous();
  }
}

DataLoader::~DataLoader() {
  try {
    stop_worker();
  } catch (...) {
    // A destructor must not throw; the worker's error (if any) is dropped with the loader.
  }
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  if (options_.sampler) {
    options_.sampler->set_epoch(epoch);
    return options_.sampler->indices();
  }
  int64_t n = data_.size(0);
  if (options_.shuffle) return epoch_permutation(n, options_.seed, epoch);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

int64_t DataLoader::num_examples() const {
  return options_.sampler ? options_.sampler->num_samples_per_rank() : data_.size(0);
}

int64_t DataLoader::num_batches() const {
  int64_t n = num_examples(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::start_epoch() {
  stop_worker();
  current_epoch_ = next_epoch_++;
  order_ = epoch_order(current_epoch_);
  next_batch_ = 0;
  if (options_.device.is_cuda()) compute_stream_ = cuda::current_stream(options_.device.index);
  if (options_.prefetch && !options_.device_resident) {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_.clear();
    stop_ = false;
    worker_done_ = false;
    worker_error_ = nullptr;
    worker_ = std::thread(&DataLoader::worker_loop, this, num_batches());
  }
}

Batch DataLoader::gather_on_host(size_t begin, size_t end, bool to_device) {
  bool pinned = to_device && options_.device.is_cuda();
  Batch host{gather_rows(data_, order_, begin, end, pinned), gather_rows(targets_, order_, begin, end, pinned)};
  if (!to_device || options_.device.is_cpu()) return host;
  // The device tensors belong to the consumer's stream (it frees them after its last use there),
  // so the caching allocator recycles their blocks in that stream's order. A recycled block may
  // still be read by work queued on it, so the copy waits for that stream first.
  Batch device;
  {
    cuda::StreamGuard on_compute(compute_stream_);
    device = {empty(host.data.sizes(), TensorOptions(host.data.dtype()).with_device(options_.device)),
              empty(host.target.sizes(), TensorOptions(host.target.dtype()).with_device(options_.device))};
  }
  // The copy runs on this thread's current stream; waiting for it here keeps the pinned buffers
  // alive until the transfer is done (on the worker thread, that wait overlaps the training step).
  cuda::Stream copy_stream = cuda::current_stream(options_.device.index);
  cuda::stream_wait(copy_stream, compute_stream_);
  device.data.copy_(host.data, /*non_blocking=*/true);
  device.target.copy_(host.target, true);
  copy_stream.synchronize();
  return device;
}

Batch DataLoader::make_batch(int64_t batch_index) {
  size_t begin = static_cast<size_t>(batch_index * options_.batch_size);
  size_t end = std::min(order_.size(), begin + static_cast<size_t>(options_.batch_size));
  NoGradGuard no_grad;
  if (!options_.device_resident) return gather_on_host(begin, end, true);
  // Device-resident: the gather is queued on the consumer's stream, so the batch is ordered before
  // every kernel that reads it and its memory belongs to that stream.
  std::optional<cuda::StreamGuard> on_compute;
  if (options_.device.is_cuda()) on_compute.emplace(compute_stream_);
  std::vector<int64_t> picked(order_.begin() + static_cast<std::ptrdiff_t>(begin),
                              order_.begin() + static_cast<std::ptrdiff_t>(end));
  Tensor index = from_vector(picked, {static_cast<int64_t>(picked.size())}).to(options_.device);
  return {index_select(data_, 0, index), index_select(targets_, 0, index)};
}

void DataLoader::worker_loop(int64_t batches) {
  try {
    std::optional<cuda::StreamGuard> stream_guard;
    if (options_.device.is_cuda()) {
      cuda::set_device(options_.device.index);
      // Copies run off the compute stream, on one stream made once for this loader.
      if (copy_stream_.handle() == nullptr) copy_stream_ = cuda::create_stream(options_.device.index);
      stream_guard.emplace(copy_stream_);
    }
    for (int64_t b = 0; b < batches; ++b) {
      Batch batch = make_batch(b);
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || ready_.size() < kQueueDepth; });
      if (stop_) return;
      ready_.push_back(std::move(batch));
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    worker_error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  worker_done_ = true;
  changed_.notify_all();
}

void DataLoader::stop_worker() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    changed_.notify_all();
  }
  worker_.join();
  ready_.clear();
}

std::optional<Batch> DataLoader::next() {
  EMBER_CHECK(current_epoch_ >= 0, "DataLoader: call start_epoch() (or iterate with a range-for) before next()");
  if (next_batch_ >= num_batches()) return std::nullopt;
  if (!worker_.joinable()) return make_batch(next_batch_++);
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || worker_done_; });
  if (ready_.empty()) {
    std::exception_ptr error = worker_error_;
    lock.unlock();
    if (error) std::rethrow_exception(error);
    EMBER_FAIL("DataLoader: the background worker stopped before batch ", next_batch_);
  }
  Batch batch = std::move(ready_.front());
  ready_.pop_front();
  changed_.notify_all();
  ++next_batch_;
  return batch;
}

}  // namespace ember::data
