// DistributedDataParallel against single-process training on the same global batches: the
// dist_worker trains a small MLP (float64) on shards, rank 0 writes the parameters.
#include <catch2/catch.hpp>

#include <ember/dist/process_group.h>

#include "dist/launch.h"

using namespace ember::testing::dist;

namespace {

// Trains in one process on the full batch and returns the parameters.
std::map<std::string, std::vector<double>> reference(const std::vector<std::string>& extra) {
  std::string out = temp_path("ref");
  std::vector<std::string> argv = {EMBER_DIST_WORKER, "train", "--single", "--out", out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto results = run_all({{argv, {}}}, 120);
  INFO(describe(results));
  REQUIRE(results[0].ok());
  auto params = read_parameters(out);
  ::unlink(out.c_str());
  return params;
}

std::map<std::string, std::vector<double>> distributed(int world, const std::vector<std::string>& extra,
                                                       std::string* output = nullptr) {
  std::string out = temp_path("ddp");
  std::vector<std::string> argv = {EMBER_DIST_WORKER, "train", "--out", out, "--timeout", "60"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto results = run_ranks(world, argv, 180);
  INFO(describe(results));
  for (auto& r : results) REQUIRE(r.ok());
  if (output) *output = results[0].output;
  auto params = read_parameters(out);
  ::unlink(out.c_str());
  return params;
}

bool have_gloo() {
  if (!ember::dist::gloo_available()) WARN("skipped: Ember was built without Gloo");
  return ember::dist::gloo_available();
}

}  // namespace

TEST_CASE("dist ddp: 2 and 4 ranks equal one process on the same global batches", "[dist]") {
  if (!have_gloo()) return;
  std::vector<std::string> common = {"--steps", "6", "--batch", "16"};
  auto ref = reference(common);
  for (int world : {2, 4}) {
    INFO("world size " << world);
    CHECK(max_relative_difference(distributed(world, common), ref) < 1e-5);
  }
}

TEST_CASE("dist ddp: a tiny bucket cap (one bucket per parameter) gives the same result", "[dist]") {
  if (!have_gloo()) return;
  std::vector<std::string> common = {"--steps", "6", "--batch", "16"};
  auto ref = reference(common);
  std::vector<std::string> tiny = common;
  tiny.insert(tiny.end(), {"--bucket-cap", "8"});
  std::string output;
  auto params = distributed(2, tiny, &output);
  CHECK(output.find("buckets: 4") != std::string::npos);
  CHECK(max_relative_difference(params, ref) < 1e-5);
}

TEST_CASE("dist ddp: no_sync accumulation equals the larger batch", "[dist]") {
  if (!have_gloo()) return;
  // 3 micro-batches of 8 per step, the first two under no_sync, against one process doing the same.
  std::vector<std::string> common = {"--steps", "4", "--batch", "8", "--accumulate", "3"};
  auto ref = reference(common);
  CHECK(max_relative_difference(distributed(2, common), ref) < 1e-5);
  CHECK(max_relative_difference(distributed(4, common), ref) < 1e-5);
}

TEST_CASE("dist ddp: a parameter without a gradient is named, unless find_unused_parameters", "[dist]") {
  if (!have_gloo()) return;
  auto results = run_ranks(2, {EMBER_DIST_WORKER, "train", "--unused", "--steps", "2", "--timeout", "20"}, 60);
  INFO(describe(results));
  for (auto& r : results) {
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("unused_weight") != std::string::npos);
    CHECK(r.output.find("find_unused_parameters") != std::string::npos);
  }
  std::vector<std::string> common = {"--steps", "3", "--batch", "16", "--unused"};
  auto ref = reference(common);
  std::vector<std::string> allowed = common;
  allowed.push_back("--find-unused");
  CHECK(max_relative_difference(distributed(2, allowed), ref) < 1e-5);
}

// What a PyTorch training loop does that the reducer must get right: gradients are averaged in
// eval mode, after zero_grad(set_to_none) between forward and backward, and without a call to
// finalize() (backward finishes the reduction when it ends); a second backward of a loss computed
// outside DDP accumulates locally on top.
TEST_CASE("dist ddp: eval mode, zero_grad after forward, no finalize() call, a local second backward", "[dist]") {
  if (!have_gloo()) return;
  std::vector<std::string> common = {"--steps", "4", "--batch", "16"};
  for (const char* variant : {"--eval", "--zero-after-forward", "--no-finalize", "--regularise"}) {
    INFO(variant);
    std::vector<std::string> flags = common;
    flags.push_back(variant);
    CHECK(max_relative_difference(distributed(2, flags), reference(flags)) < 1e-5);  // one process, the same loop
  }
}

TEST_CASE("dist ddp: find_unused_parameters leaves a parameter no rank used without a gradient", "[dist]") {
  if (!have_gloo()) return;
  std::string output;
  distributed(2, {"--steps", "2", "--batch", "16", "--unused", "--find-unused"}, &output);
  CHECK(output.find("rank 0: unused_weight grad undefined") != std::string::npos);
  // Used by rank 0 alone, it is averaged on both, and a collective of the caller's own between
  // backward and the step lines up on every rank (the reduction finished inside backward).
  auto results = run_ranks(2,
                           {EMBER_DIST_WORKER, "train", "--steps", "3", "--batch", "16", "--unused", "--find-unused",
                            "--partly-used", "--collective-after-backward", "--timeout", "60"},
                           120);
  INFO(describe(results));
  for (auto& r : results) {
    CHECK(r.ok());
    CHECK(r.output.find("unused_weight grad defined") != std::string::npos);
  }
}
