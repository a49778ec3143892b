// Two "nodes" for real: two network namespaces joined by a veth pair, one ember-run per
// namespace (--nnodes 2), Gloo over the veth addresses. Then the link is cut mid-run and every
// rank must exit non-zero within the timeout. Needs root (CI runs as root); skipped with a
// message where namespaces cannot be made. Traffic stays between the namespaces made here, which
// are deleted at the end.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <thread>

#include <ember/dist/process_group.h>

#include "dist/launch.h"

using namespace ember::testing::dist;

#ifdef EMBER_RUN_BINARY
namespace {

bool sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

// The two namespaces and the veth pair between them; removed in the destructor.
struct TwoNodes {
  std::string ns[2], veth[2], addr[2];
  bool ok = false;
  TwoNodes() {
    int id = static_cast<int>(::getpid() % 200) + 20;
    for (int i = 0; i < 2; ++i) {
      ns[i] = "ember_node" + std::to_string(i) + "_" + std::to_string(::getpid());
      veth[i] = "embv" + std::to_string(i) + "_" + std::to_string(::getpid() % 100000);
      addr[i] = "10.231." + std::to_string(id) + "." + std::to_string(i + 1);
    }
    ok = sh("ip netns add " + ns[0]) && sh("ip netns add " + ns[1]) &&
         sh("ip link add " + veth[0] + " type veth peer name " + veth[1]);
    for (int i = 0; ok && i < 2; ++i) {
      ok = sh("ip link set " + veth[i] + " netns " + ns[i]) &&
           sh("ip -n " + ns[i] + " addr add " + addr[i] + "/24 dev " + veth[i]) &&
           sh("ip -n " + ns[i] + " link set lo up") && sh("ip -n " + ns[i] + " link set " + veth[i] + " up");
    }
  }
  ~TwoNodes() {
    for (int i = 0; i < 2; ++i) sh("ip netns del " + ns[i]);  // takes the veth ends with it
    sh("ip link del " + veth[0]);
  }
  // ember-run for node `i` inside its namespace.
  Command node(int i, uint16_t port, const std::vector<std::string>& worker_args) const {
    std::vector<std::string> argv = {"ip", "netns", "exec", ns[i], EMBER_RUN_BINARY, "--nproc-per-node", "2",
                                     "--nnodes", "2", "--node-rank", std::to_string(i), "--master-addr", addr[0],
                                     "--master-port", std::to_string(port), "--grace", "2", "--",
                                     EMBER_DIST_WORKER};
    argv.insert(argv.end(), worker_args.begin(), worker_args.end());
    return {argv, {}};
  }
};

}  // namespace

TEST_CASE("dist netns: two nodes train to the single-node result, a cut link fails every rank", "[dist]") {
  if (!ember::dist::gloo_available()) return;
  TwoNodes nodes;
  if (!nodes.ok) {
    WARN("skipped: cannot create network namespaces and a veth pair here (needs root and iproute2)");
    return;
  }
  // 1. Training across the two namespaces equals one process on the same global batches.
  std::string out = temp_path("netns"), ref = temp_path("netns_ref");
  auto reference = run_all({{{EMBER_DIST_WORKER, "train", "--single", "--steps", "5", "--batch", "16", "--out", ref},
                             {}}},
                           60);
  REQUIRE(reference[0].ok());
  std::vector<std::string> args = {"train", "--steps", "5", "--batch", "16", "--out", out, "--timeout", "20"};
  auto results = run_all({nodes.node(0, 29411, args), nodes.node(1, 29411, args)}, 120);
  INFO(describe(results));
  CHECK(results[0].ok());
  CHECK(results[1].ok());
  CHECK(max_relative_difference(read_parameters(out), read_parameters(ref)) < 1e-5);
  ::unlink(out.c_str());
  ::unlink(ref.c_str());

  // 2. Cut the link mid-run: every rank on both nodes exits non-zero within the timeout.
  const double timeout = 5;
  std::vector<std::string> forever = {"train", "--steps", "100000000", "--batch", "16", "--step-sleep-ms", "2",
                                      "--timeout", std::to_string(timeout)};
  std::thread cutter([&] {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    sh("ip -n " + nodes.ns[0] + " link set " + nodes.veth[0] + " down");
  });
  auto cut = run_all({nodes.node(0, 29412, forever), nodes.node(1, 29412, forever)}, 60);
  cutter.join();
  INFO(describe(cut));
  for (auto& r : cut) {
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code != 0);
    CHECK(r.seconds < 3 + timeout + 15);
    CHECK(r.output.find("FAILED: rank") != std::string::npos);
  }
}
#endif
