// Gloo collectives across real processes on localhost, with closed-form results.
#include <catch2/catch.hpp>

#include <ember/core/error.h>
#include <ember/dist/process_group.h>

#include "dist/launch.h"

using namespace ember::testing::dist;

TEST_CASE("dist collectives: all_reduce, broadcast, all_gather, barrier at 2 and 4 ranks", "[dist]") {
  if (!ember::dist::gloo_available()) {
    WARN("skipped: Ember was built without Gloo");
    return;
  }
  for (int world : {2, 4}) {
    INFO("world size " << world);
    auto results = run_ranks(world, {EMBER_DIST_WORKER, "collectives", "--timeout", "30"}, 60);
    INFO(describe(results));
    for (auto& r : results) {
      CHECK(r.ok());
      CHECK(r.output.find("collectives OK") != std::string::npos);
    }
  }
}

TEST_CASE("dist collectives: an unknown or missing backend is refused clearly", "[dist]") {
  ember::dist::DistEnv env;
  CHECK_THROWS_WITH(ember::dist::init_process_group("mpi", env), Catch::Contains("unknown backend 'mpi'"));
  if (!ember::dist::nccl_available()) {
    CHECK_THROWS_WITH(ember::dist::init_process_group("nccl", env),
                      Catch::Contains("Ember was built without NCCL"));
  }
}
