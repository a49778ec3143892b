// DistributedSampler: each of world_size ranks gets a disjoint shard of the epoch's index order.
// All ranks compute the same order (the same permutation for a given seed and epoch), pad it by
// wrapping around to a multiple of world_size (or drop the tail with drop_last), and rank r takes
// every world_size-th index starting at r, as torch.utils.data.DistributedSampler does.
#pragma once
#include <cstdint>
#include <vector>

namespace ember::data {

class DistributedSampler {
 public:
  DistributedSampler(int64_t num_samples, int64_t rank, int64_t world_size, bool shuffle = true, uint64_t seed = 0,
                     bool drop_last = false);
  // A new permutation per epoch (when shuffling); call before each epoch.
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  // This rank's indices for the current epoch (num_samples_per_rank() of them).
  std::vector<int64_t> indices() const;
  int64_t num_samples_per_rank() const { return per_rank_; }
  int64_t rank() const { return rank_; }
  int64_t world_size() const { return world_size_; }

 private:
  int64_t num_samples_, rank_, world_size_;
  bool shuffle_;
  uint64_t seed_;
  int64_t per_rank_;
  int64_t epoch_ = 0;
};

// The order of 0..n-1 for an epoch: a permutation drawn from Generator(seed) at a counter offset
// of epoch * n (so each epoch differs, and every epoch can be recomputed on its own).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace ember::data
