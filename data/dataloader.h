// DataLoader over an in-memory tensor dataset (e.g. MNIST images (N, 1, 28, 28) float and labels
// (N) int64; a TensorDataset, a (data, targets) pair, or any Dataset, whose examples are then read
// once and stacked): batches in sequential or shuffled order (a new seeded permutation per epoch),
// optionally sharded by a DistributedSampler. Two ways to feed a GPU:
//  - host-resident (default): a background thread gathers the next batch into pinned host memory
//    and copies it to the device asynchronously on its own stream while the current batch trains;
//  - device-resident: the whole dataset is copied to the device once and batches are gathered
//    there with index_select (no per-batch host traffic).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ember/core/cuda.h>
#include <ember/core/tensor.h>
#include <ember/data/dataset.h>
#include <ember/data/distributed_sampler.h>

namespace ember::data {

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;
  uint64_t seed = 0;
  bool drop_last = false;
  Device device = kCPU;          // where batches are delivered
  bool device_resident = false;  // keep the whole dataset on `device`
  bool prefetch = true;          // prepare the next batch on a background thread
  std::shared_ptr<DistributedSampler> sampler;  // overrides shuffle/seed when set

  DataLoaderOptions& with_batch_size(int64_t b) { batch_size = b; return *this; }
  DataLoaderOptions& with_shuffle(bool s, uint64_t sd = 0) { shuffle = s; seed = sd; return *this; }
  DataLoaderOptions& with_drop_last(bool d = true) { drop_last = d; return *this; }
  DataLoaderOptions& with_device(Device d, bool resident = false) { device = d; device_resident = resident; return *this; }
  DataLoaderOptions& with_prefetch(bool p) { prefetch = p; return *this; }
  DataLoaderOptions& with_sampler(std::shared_ptr<DistributedSampler> s) { sampler = std::move(s); return *this; }
};

struct Batch {
  Tensor data;
  Tensor target;
};

class DataLoader {
 public:
  DataLoader(const TensorDataset& dataset, DataLoaderOptions options);
  DataLoader(Tensor data, Tensor targets, DataLoaderOptions options);
  // Any other Dataset, a subclass of TensorDataset included (its get() may transform): every
  // example is read once, get(0) .. get(size() - 1), and stacked into two tensors (the examples'
  // data must share one shape and dtype, and so must their targets); the loader then works as on
  // a TensorDataset. The whole dataset is held in memory, so get() runs once per example, not once
  // per epoch (a random augmentation in get() is drawn once).
  DataLoader(const Dataset& dataset, DataLoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts an epoch (the one set by set_epoch, else the one after the last); following next()
  // calls return its batches, then nullopt.
  void start_epoch();
  std::optional<Batch> next();
  void set_epoch(int64_t epoch) { next_epoch_ = epoch; }
  int64_t epoch() const { return current_epoch_; }
  int64_t num_batches() const;
  int64_t num_examples() const;  // per epoch, on this rank
  // The example order of the current epoch.
  const std::vector<int64_t>& order() const { return order_; }

  // Range-for support: begin() starts the next epoch.
  class Iterator {
   public:
    Iterator(DataLoader* loader) : loader_(loader) { advance(); }
    const Batch& operator*() const { return *batch_; }
    const Batch* operator->() const { return &*batch_; }
    Iterator& operator++() { advance(); return *this; }
    bool operator!=(const Iterator& other) const { return batch_.has_value() != other.batch_.has_value(); }

   private:
    void advance() { batch_ = loader_ ? loader_->next() : std::nullopt; }
    DataLoader* loader_;
    std::optional<Batch> batch_;
  };
  Iterator begin() { start_epoch(); return Iterator(this); }
  Iterator end() { return Iterator(nullptr); }

 private:
  void init(Tensor data, Tensor targets);
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  Batch make_batch(int64_t batch_index);  // from order_
  Batch gather_on_host(size_t begin, size_t end, bool to_device);
  void stop_worker();
  void worker_loop(int64_t batches);

  Tensor data_, targets_;  // on the host, or on options_.device when device-resident
  DataLoaderOptions options_;
  std::vector<int64_t> order_;
  int64_t next_epoch_ = 0;
  int64_t current_epoch_ = -1;
  int64_t next_batch_ = 0;
  cuda::Stream compute_stream_;  // the consumer's current stream on a CUDA device (set by start_epoch)
  cuda::Stream copy_stream_;     // the worker's stream for host-to-device copies (made once)

  // Background preparation: a bounded queue filled by worker_.
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  bool stop_ = false;
  bool worker_done_ = false;
  std::exception_ptr worker_error_;
};

}  // namespace ember::data
