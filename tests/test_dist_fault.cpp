// Faults: a rank that dies or never joins makes every other rank exit non-zero within the
// timeout, and ember-run names the failed rank.
#include <catch2/catch.hpp>

#include <ember/dist/process_group.h>

#include "dist/launch.h"

using namespace ember::testing::dist;

TEST_CASE("dist fault: a rank killed mid-training makes the others fail within the timeout", "[dist]") {
  if (!ember::dist::gloo_available()) return;
  const double timeout = 10;
  auto results = run_ranks(3,
                           {EMBER_DIST_WORKER, "train", "--steps", "1000000", "--batch", "12", "--fault-rank", "1",
                            "--fault-step", "20", "--timeout", std::to_string(timeout)},
                           60);
  INFO(describe(results));
  CHECK(results[1].signal == SIGKILL);
  for (int r : {0, 2}) {
    CHECK_FALSE(results[static_cast<size_t>(r)].timed_out);
    CHECK(results[static_cast<size_t>(r)].exit_code == 1);
    CHECK(results[static_cast<size_t>(r)].seconds < timeout + 5);
    CHECK(results[static_cast<size_t>(r)].output.find("error:") != std::string::npos);
  }
}

TEST_CASE("dist fault: a rank that never joins is reported by the others within the timeout", "[dist]") {
  if (!ember::dist::gloo_available()) return;
  uint16_t port = free_port();
  std::vector<Command> commands;
  for (int r = 0; r < 2; ++r) {  // ranks 0 and 1 of 3; rank 2 never starts
    commands.push_back({{EMBER_DIST_WORKER, "train", "--steps", "3", "--batch", "12", "--timeout", "2"},
                        rank_env(r, 3, port, "never-joins")});
  }
  auto results = run_all(commands, 30);
  INFO(describe(results));
  for (auto& r : results) {
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    CHECK(r.seconds < 10);
  }
  CHECK(results[0].output.find("rank(s) [2] never joined") != std::string::npos);
}

#ifdef EMBER_RUN_BINARY
TEST_CASE("dist fault: ember-run stops the others and names the failed rank", "[dist]") {
  if (!ember::dist::gloo_available()) return;
  auto results = run_all({{{EMBER_RUN_BINARY, "--nproc-per-node", "3", "--master-port", std::to_string(free_port()),
                            "--grace", "2", "--", EMBER_DIST_WORKER, "train", "--steps", "1000000", "--batch",
                            "12", "--fault-rank", "2", "--fault-step", "10", "--timeout", "10"},
                           {}}},
                         60);
  INFO(describe(results));
  CHECK_FALSE(results[0].timed_out);
  CHECK(results[0].exit_code != 0);
  CHECK(results[0].output.find("FAILED: rank 2") != std::string::npos);
  CHECK(results[0].seconds < 20);
}

TEST_CASE("dist launcher: ember-run sets the environment and prefixes output", "[dist]") {
  if (!ember::dist::gloo_available()) return;
  auto results = run_all({{{EMBER_RUN_BINARY, "--nproc-per-node", "4", "--master-port", std::to_string(free_port()),
                            "--", EMBER_DIST_WORKER, "collectives", "--timeout", "30"},
                           {}}},
                         90);
  INFO(describe(results));
  CHECK(results[0].ok());
  for (int r = 0; r < 4; ++r) {
    CHECK(results[0].output.find("[rank " + std::to_string(r) + "] rank " + std::to_string(r) + ": collectives OK") !=
          std::string::npos);
  }
}
#endif
