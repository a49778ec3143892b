#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include <ember/ember.h>
#include <ember/data/dataloader.h>
#include <ember/data/distributed_sampler.h>

using namespace ember;

namespace {

// Example i has data row {i, 10 i} and target i, so a batch shows which examples it holds.
data::TensorDataset numbered(int64_t n) {
  std::vector<float> rows;
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < n; ++i) {
    rows.push_back(static_cast<float>(i));
    rows.push_back(static_cast<float>(10 * i));
    targets.push_back(i);
  }
  return data::TensorDataset(from_vector(rows, {n, 2}), from_vector(targets, {n}));
}

std::vector<std::vector<int64_t>> epoch_targets(data::DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  for (const data::Batch& batch : loader) {
    std::vector<int64_t> t = batch.target.to_vector<int64_t>();
    std::vector<float> d = batch.data.to_vector<float>();
    for (size_t i = 0; i < t.size(); ++i) {
      REQUIRE(d[2 * i] == static_cast<float>(t[i]));  // rows stay paired with their targets
      REQUIRE(d[2 * i + 1] == static_cast<float>(10 * t[i]));
    }
    out.push_back(t);
  }
  return out;
}

std::vector<int64_t> flat(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> out;
  for (auto& b : batches) out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

TEST_CASE("DataLoader batches in order, with and without drop_last", "[data]") {
  for (bool prefetch : {true, false}) {
    INFO("prefetch " << prefetch);
    data::DataLoader loader(numbered(10), data::DataLoaderOptions().with_batch_size(4).with_prefetch(prefetch));
    CHECK(loader.num_batches() == 3);
    auto batches = epoch_targets(loader);
    REQUIRE(batches.size() == 3);
    CHECK(batches[0] == std::vector<int64_t>{0, 1, 2, 3});
    CHECK(batches[2] == std::vector<int64_t>{8, 9});

    data::DataLoader dropping(numbered(10), data::DataLoaderOptions().with_batch_size(4).with_drop_last().with_prefetch(prefetch));
    CHECK(dropping.num_batches() == 2);
    CHECK(flat(epoch_targets(dropping)) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  }
}

TEST_CASE("DataLoader shuffles deterministically by seed, anew each epoch", "[data]") {
  auto opts = data::DataLoaderOptions().with_batch_size(8).with_shuffle(true, 42);
  data::DataLoader a(numbered(50), opts), b(numbered(50), opts);
  auto a0 = flat(epoch_targets(a)), a1 = flat(epoch_targets(a));
  auto b0 = flat(epoch_targets(b)), b1 = flat(epoch_targets(b));
  CHECK(a0 == b0);
  CHECK(a1 == b1);
  CHECK(a0 != a1);
  std::vector<int64_t> sorted = a0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(50);
  for (int64_t i = 0; i < 50; ++i) all[static_cast<size_t>(i)] = i;
  CHECK(sorted == all);

  data::DataLoader c(numbered(50), data::DataLoaderOptions().with_batch_size(8).with_shuffle(true, 43));
  CHECK(flat(epoch_targets(c)) != a0);
  // set_epoch replays an epoch (e.g. after resuming from a checkpoint).
  a.set_epoch(1);
  CHECK(flat(epoch_targets(a)) == a1);
  CHECK(a.epoch() == 1);
}

TEST_CASE("DataLoader device-resident mode gathers with index_select", "[data]") {
  data::DataLoader loader(numbered(9), data::DataLoaderOptions().with_batch_size(4).with_shuffle(true, 7).with_device(kCPU, true));
  data::DataLoader reference(numbered(9), data::DataLoaderOptions().with_batch_size(4).with_shuffle(true, 7));
  CHECK(epoch_targets(loader) == epoch_targets(reference));
}

namespace {

// A Dataset of its own (not a TensorDataset): example i is ({i, 10 i}, i), the target a scalar.
class Numbered : public data::Dataset {
 public:
  explicit Numbered(int64_t n, int64_t odd_one = -1) : n_(n), odd_one_(odd_one) {}
  int64_t size() const override { return n_; }
  data::Example get(int64_t i) const override {
    std::vector<float> row{static_cast<float>(i), static_cast<float>(10 * i)};
    if (i == odd_one_) row.push_back(0);
    return {from_vector(row, {static_cast<int64_t>(row.size())}), scalar_tensor(static_cast<double>(i), kInt64)};
  }

 private:
  int64_t n_, odd_one_;
};

}  // namespace

TEST_CASE("DataLoader takes any Dataset, reading and stacking its examples once", "[data]") {
  auto options = data::DataLoaderOptions().with_batch_size(4).with_shuffle(true, 7);
  data::DataLoader loader(Numbered(9), options);
  data::DataLoader reference(numbered(9), options);
  CHECK(loader.num_examples() == 9);
  CHECK(epoch_targets(loader) == epoch_targets(reference));
  // A TensorDataset passed as a Dataset is used as it is.
  data::TensorDataset tensors = numbered(5);
  const data::Dataset& as_base = tensors;
  data::DataLoader from_base(as_base, options);
  data::DataLoader five(numbered(5), options);
  CHECK(epoch_targets(from_base) == epoch_targets(five));
  // A subclass of TensorDataset that transforms in get() (and serves fewer examples) is read through
  // get() and size(), as any Dataset; passed as itself or as its base, it must not bypass them.
  struct Scaled : data::TensorDataset {
    Scaled() : data::TensorDataset(numbered(6)) {}
    int64_t size() const override { return 4; }
    data::Example get(int64_t i) const override {
      data::Example e = data::TensorDataset::get(i);
      return {e.data * 100.0, e.target};
    }
  };
  const Scaled scaled;
  auto in_order = data::DataLoaderOptions().with_batch_size(4);
  auto reads_scaled = [](data::DataLoader&& loader) {
    CHECK(loader.num_examples() == 4);
    for (const data::Batch& batch : loader)
      CHECK(batch.data.to_vector<float>() == std::vector<float>{0, 0, 100, 1000, 200, 2000, 300, 3000});
  };
  reads_scaled(data::DataLoader(scaled, in_order));
  reads_scaled(data::DataLoader(static_cast<const data::Dataset&>(scaled), in_order));
  CHECK_THROWS_WITH(data::DataLoader(Numbered(4, /*odd_one=*/2), options),
                    Catch::Contains("example 2 of the dataset") && Catch::Contains("differs in shape"));
  CHECK_THROWS_WITH(data::DataLoader(Numbered(0), options), Catch::Contains("the dataset is empty"));
}

TEST_CASE("DataLoader checks its inputs", "[data]") {
  CHECK_THROWS_WITH(data::DataLoader(zeros({3, 2}), zeros({4}, kInt64), {}), Catch::Contains("same first dimension"));
  CHECK_THROWS_WITH(data::DataLoader(numbered(3), data::DataLoaderOptions().with_batch_size(0)),
                    Catch::Contains("batch_size"));
  data::DataLoader loader(numbered(3), {});
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("start_epoch"));
}

TEST_CASE("DistributedSampler shards are disjoint, cover the data and agree across ranks", "[data]") {
  for (int64_t n : {10, 11, 13}) {
    for (int64_t world : {1, 3, 4}) {
      INFO("n " << n << " world " << world);
      std::vector<int64_t> all;
      int64_t per_rank = (n + world - 1) / world;
      for (int64_t rank = 0; rank < world; ++rank) {
        data::DistributedSampler sampler(n, rank, world, true, 5);
        sampler.set_epoch(2);
        std::vector<int64_t> mine = sampler.indices();
        CHECK(static_cast<int64_t>(mine.size()) == per_rank);
        all.insert(all.end(), mine.begin(), mine.end());
      }
      // Padded by wrapping: every index appears, the first (total - n) of the order twice.
      std::set<int64_t> unique(all.begin(), all.end());
      CHECK(static_cast<int64_t>(unique.size()) == n);
      CHECK(static_cast<int64_t>(all.size()) == per_rank * world);
      if (per_rank * world == n) CHECK(all.size() == unique.size());  // disjoint when no padding

      // drop_last: equal shards without padding, strictly disjoint.
      std::vector<int64_t> dropped;
      for (int64_t rank = 0; rank < world; ++rank) {
        data::DistributedSampler sampler(n, rank, world, true, 5, true);
        auto mine = sampler.indices();
        CHECK(static_cast<int64_t>(mine.size()) == n / world);
        dropped.insert(dropped.end(), mine.begin(), mine.end());
      }
      CHECK(std::set<int64_t>(dropped.begin(), dropped.end()).size() == dropped.size());
    }
  }
  data::DistributedSampler s(20, 1, 2, true, 9);
  auto e0 = s.indices();
  s.set_epoch(1);
  CHECK(s.indices() != e0);
  data::DistributedSampler ordered(5, 1, 2, false);
  CHECK(ordered.indices() == std::vector<int64_t>{1, 3, 0});  // order 0..4 padded with 0
  CHECK_THROWS_WITH(data::DistributedSampler(5, 2, 2), Catch::Contains("rank 2"));
  // PyTorch's order (num_replicas, rank) by mistake: the world size of 0 is named, not the rank.
  CHECK_THROWS_WITH(data::DistributedSampler(5, 3, 0),
                    Catch::Contains("DistributedSampler: world_size must be >= 1, got 0") &&
                        !Catch::Contains("rank 3"));
  CHECK_THROWS_WITH(data::DistributedSampler(5, 0, -2), Catch::Contains("world_size must be >= 1, got -2"));
}

TEST_CASE("DataLoader with a DistributedSampler serves this rank's shard", "[data]") {
  auto sampler = std::make_shared<data::DistributedSampler>(10, 1, 2, true, 3);
  data::DataLoader loader(numbered(10), data::DataLoaderOptions().with_batch_size(2).with_sampler(sampler));
  loader.set_epoch(4);
  auto got = flat(epoch_targets(loader));
  data::DistributedSampler check(10, 1, 2, true, 3);
  check.set_epoch(4);
  CHECK(got == check.indices());
  CHECK(loader.num_batches() == 3);
}
