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
