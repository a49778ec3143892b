#include <ember/data/distributed_sampler.h>

#include <numeric>

#include <ember/core/error.h>
#include <ember/core/random.h>

namespace ember::data {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  Generator generator(seed);
  generator.set_state({seed, static_cast<uint64_t>(epoch) * static_cast<uint64_t>(n)});
  return randperm(n, &generator).to_vector<int64_t>();
}

DistributedSampler::DistributedSampler(int64_t num_samples, int64_t rank, int64_t world_size, bool shuffle,
                                       uint64_t seed, bool drop_last)
    : num_samples_(num_samples), rank_(rank), world_size_(world_size), shuffle_(shuffle), seed_(seed) {
  // world_size first: with PyTorch's order (num_replicas before rank) a 0 rank lands here, and a rank
  // error would blame the wrong argument.
  EMBER_CHECK(world_size >= 1, "DistributedSampler: world_size must be >= 1, got ", world_size,
              " (the arguments are num_samples, rank, world_size)");
  EMBER_CHECK(rank >= 0 && rank < world_size, "DistributedSampler: rank ", rank,
              " is not in [0, world_size = ", world_size, ")");
  EMBER_CHECK(num_samples >= 0, "DistributedSampler: num_samples must be >= 0, got ", num_samples);
  per_rank_ = drop_last ? num_samples / world_size : (num_samples + world_size - 1) / world_size;
}

std::vector<int64_t> DistributedSampler::indices() const {
  std::vector<int64_t> order;
  if (shuffle_) {
    order = epoch_permutation(num_samples_, seed_, epoch_);
  } else {
    order.resize(static_cast<size_t>(num_samples_));
    std::iota(order.begin(), order.end(), 0);
  }
  int64_t total = per_rank_ * world_size_;
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank_));
  // Position k of the padded order is order[k mod n]: wrapping pads, truncation drops the tail.
  for (int64_t k = rank_; k < total; k += world_size_) mine.push_back(order[static_cast<size_t>(k % num_samples_)]);
  return mine;
}

}  // namespace ember::data
