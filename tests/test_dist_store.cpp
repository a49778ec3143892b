// TCPStore: the rendezvous key-value store (in process: a server thread and clients).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <thread>

#include <ember/core/error.h>
#include <ember/dist/env.h>
#include <ember/dist/store.h>

#include "dist/launch.h"

using namespace ember;
using namespace ember::dist;
using namespace std::chrono_literals;

namespace {

// A raw connection that speaks bytes, not the protocol.
struct RawSocket {
  int fd;
  explicit RawSocket(uint16_t port) : fd(ember::dist::detail::connect_tcp("127.0.0.1", port)) {}
  ~RawSocket() {
    if (fd >= 0) ::close(fd);
  }
  void send(const std::vector<uint8_t>& bytes) { ember::dist::detail::write_all(fd, bytes.data(), bytes.size()); }
  // True when the server closed the connection (EOF) within the time given.
  bool closed_within(std::chrono::milliseconds t) {
    auto deadline = std::chrono::steady_clock::now() + t;
    uint8_t buf[256];
    while (std::chrono::steady_clock::now() < deadline) {
      if (!ember::dist::detail::read_all(fd, buf, 1, deadline)) return std::chrono::steady_clock::now() < deadline;
    }
    return false;
  }
};

std::vector<uint8_t> u32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}

}  // namespace

TEST_CASE("dist store: set, get, add, check, wait", "[dist]") {
  TCPStoreServer server(0, "run-a");
  TCPStore a("127.0.0.1", server.port(), "run-a", 5s);
  TCPStore b("127.0.0.1", server.port(), "run-a", 5s);
  a.set("x", std::string("hello"));
  CHECK(b.get_string("x") == "hello");
  CHECK(a.add("n", 3) == 3);
  CHECK(b.add("n", -1) == 2);
  CHECK(a.get_string("n") == "2");
  CHECK(a.check({"x", "n"}));
  CHECK_FALSE(a.check({"x", "missing"}));
  // Binary values survive.
  Bytes blob = {0, 1, 2, 255, 0};
  a.set("blob", blob);
  CHECK(b.get("blob") == blob);

  // wait returns once another client sets the key.
  std::thread setter([&] {
    std::this_thread::sleep_for(100ms);
    TCPStore c("127.0.0.1", server.port(), "run-a", 5s);
    c.set("late", std::string("1"));
  });
  auto t0 = std::chrono::steady_clock::now();
  b.wait({"x", "late"}, 5s);
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);
  setter.join();
}

// ADD on a value that is not a whole int64, or past its range, is an error naming the key; the
// connection stays usable and the value unchanged (it used to close the client's connection for good,
// take "12abc" as 12 and wrap around on overflow).
TEST_CASE("dist store: add on a non-integer or past int64 fails and keeps the client", "[dist]") {
  TCPStoreServer server(0, "run-add");
  TCPStore a("127.0.0.1", server.port(), "run-add", 5s);
  a.set("text", std::string("hello"));
  a.set("suffix", std::string("12abc"));
  a.set("spaced", std::string(" 12"));
  a.set("empty", std::string(""));
  a.set("max", std::string("9223372036854775807"));
  a.set("min", std::string("-9223372036854775808"));
  a.set("huge", std::string("99999999999999999999"));
  CHECK_THROWS_WITH(a.add("text", 1), Catch::Contains("key 'text'") && Catch::Contains("'hello', not a whole integer"));
  CHECK_THROWS_WITH(a.add("suffix", 1), Catch::Contains("key 'suffix'") && Catch::Contains("not a whole integer"));
  CHECK_THROWS_WITH(a.add("spaced", 1), Catch::Contains("key 'spaced'"));
  CHECK_THROWS_WITH(a.add("empty", 1), Catch::Contains("key 'empty'"));
  CHECK_THROWS_WITH(a.add("huge", 1), Catch::Contains("key 'huge'") && Catch::Contains("past the int64 range"));
  CHECK_THROWS_WITH(a.add("max", 1), Catch::Contains("key 'max'") && Catch::Contains("overflows int64"));
  CHECK_THROWS_WITH(a.add("min", -1), Catch::Contains("key 'min'") && Catch::Contains("overflows int64"));
  CHECK(a.add("max", -7) == INT64_MAX - 7);
  CHECK(a.add("min", 0) == INT64_MIN);
  CHECK(a.get_string("suffix") == "12abc");
  CHECK(a.get_string("text") == "hello");
  CHECK(a.add("n", 4) == 4);
  CHECK(server.refused_connections() == 0);
}

// More keys than one request may carry (the server refuses over 4096 arguments): the client splits
// them, under one deadline; a timeout names the first few keys and how many.
TEST_CASE("dist store: check and wait on thousands of keys", "[dist]") {
  TCPStoreServer server(0, "run-k");
  TCPStore a("127.0.0.1", server.port(), "run-k", 5s);
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back("k" + std::to_string(i));
  for (const std::string& k : keys) a.set(k, std::string("1"));
  CHECK(a.check(keys));
  a.wait(keys, 5s);
  keys.push_back("absent");
  CHECK_FALSE(a.check(keys));
  CHECK_THROWS_WITH(a.wait(keys, 300ms), Catch::Contains("k0, k1") && Catch::Contains("(5001 keys)"));
}

TEST_CASE("dist store: wait and get time out with the missing key named", "[dist]") {
  TCPStoreServer server(0, "run-t");
  TCPStore a("127.0.0.1", server.port(), "run-t", 300ms);
  auto t0 = std::chrono::steady_clock::now();
  try {
    a.wait({"never"}, 300ms);
    FAIL("wait should have timed out");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("never") != std::string::npos);
    CHECK(std::string(e.what()).find("timed out") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK_THROWS_AS(a.get("never"), Error);
  // The client still works after a timeout.
  a.set("k", std::string("v"));
  CHECK(a.get_string("k") == "v");
}

TEST_CASE("dist store: no server or no such host -> a clear error within the timeout, with the last failure",
          "[dist]") {
  uint16_t port = testing::dist::free_port();
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(TCPStore("127.0.0.1", port, "run", 300ms),
                    Catch::Contains("could not reach the store") && Catch::Contains("last attempt: connect: ") &&
                        Catch::Contains("Connection refused"));
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  // A name that does not resolve is retried (DNS may learn it late) and named in the error (no
  // time bound here: one lookup may wait for the resolver's own timeout).
  CHECK_THROWS_WITH(TCPStore("no-such-host.invalid", port, "run", 300ms),
                    Catch::Contains("last attempt: cannot resolve 'no-such-host.invalid'"));
}

TEST_CASE("dist store: two runs on different ports do not mix, a stale run is refused", "[dist]") {
  TCPStoreServer s1(0, "run-1");
  TCPStoreServer s2(0, "run-2");
  REQUIRE(s1.port() != s2.port());
  TCPStore c1("127.0.0.1", s1.port(), "run-1", 2s);
  TCPStore c2("127.0.0.1", s2.port(), "run-2", 2s);
  c1.set("key", std::string("one"));
  c2.set("key", std::string("two"));
  CHECK(c1.get_string("key") == "one");
  CHECK(c2.get_string("key") == "two");
  CHECK(c1.add("count", 1) == 1);
  CHECK(c2.add("count", 5) == 5);
  // A client of another run (stale process, reused port) is turned away.
  try {
    TCPStore stale("127.0.0.1", s1.port(), "run-2", 2s);
    FAIL("a client of another run must be refused");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("belongs to run 'run-1'") != std::string::npos);
  }
  CHECK(c1.get_string("key") == "one");
}

TEST_CASE("dist store: garbage is refused without hurting the server or other clients", "[dist]") {
  TCPStoreServer server(0, "run-g", 500ms);
  TCPStore good("127.0.0.1", server.port(), "run-g", 5s);
  good.set("alive", std::string("yes"));

  // A connection that opens and never says anything, opened first so it is idle throughout.
  RawSocket silent(server.port());
  // A frame that claims more bytes than the limit.
  RawSocket oversized(server.port());
  oversized.send(u32(static_cast<uint32_t>(kMaxStoreMessageBytes + 1)));
  CHECK(oversized.closed_within(3s));
  // A complete frame whose contents do not add up (argument length past the end).
  RawSocket malformed(server.port());
  auto frame = u32(10);
  std::vector<uint8_t> body = {0, 1, 0, 0, 0, 200, 0, 0, 0, 'x'};
  frame.insert(frame.end(), body.begin(), body.end());
  malformed.send(frame);
  CHECK(malformed.closed_within(3s));
  // Random bytes.
  RawSocket noise(server.port());
  std::vector<uint8_t> junk(1000);
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 37 + 11);
  noise.send(junk);
  CHECK(noise.closed_within(3s));
  // A frame cut short and then silence: dropped after the stall timeout.
  RawSocket truncated(server.port());
  auto partial = u32(100);
  partial.push_back(1);
  truncated.send(partial);
  CHECK(truncated.closed_within(3s));
  // A valid protocol command before HELLO.
  RawSocket rude(server.port());
  auto set_frame = u32(5);
  std::vector<uint8_t> set_body = {1, 0, 0, 0, 0};
  set_frame.insert(set_frame.end(), set_body.begin(), set_body.end());
  rude.send(set_frame);
  CHECK(rude.closed_within(3s));
  CHECK(silent.closed_within(3s));
  CHECK(server.refused_connections() >= 6);

  // The store and the good client carry on.
  CHECK(good.get_string("alive") == "yes");
  CHECK(good.add("counter", 2) == 2);
  TCPStore late("127.0.0.1", server.port(), "run-g", 5s);
  CHECK(late.get_string("alive") == "yes");
}

TEST_CASE("dist store: a client-side oversized value is refused with a clear error", "[dist]") {
  TCPStoreServer server(0, "run-o");
  TCPStore a("127.0.0.1", server.port(), "run-o", 5s);
  Bytes huge(kMaxStoreMessageBytes + 16, 7);
  CHECK_THROWS_WITH(a.set("big", huge), Catch::Contains("over the"));
  a.set("small", std::string("ok"));
  CHECK(a.get_string("small") == "ok");
}

TEST_CASE("dist env: torchrun, Open MPI and Slurm variables", "[dist]") {
  auto clear = [] {
    for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                          "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
                          "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "SLURM_JOB_ID",
                          "SLURM_STEP_ID", "MASTER_ADDR", "MASTER_PORT", "EMBER_RUN_ID", "OMPI_MCA_ess_base_jobid"})
      ::unsetenv(k);
  };
  clear();
  DistEnv none = DistEnv::from_environment();
  CHECK(none.world_size == 1);
  CHECK_FALSE(none.is_distributed());

  ::setenv("RANK", "3", 1);
  ::setenv("WORLD_SIZE", "8", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "10.0.0.1", 1);
  ::setenv("MASTER_PORT", "1234", 1);
  DistEnv t = DistEnv::from_environment();
  CHECK(t.launcher == "torchrun");
  CHECK((t.rank == 3 && t.world_size == 8 && t.local_rank == 1));
  CHECK((t.master_addr == "10.0.0.1" && t.master_port == 1234));
  CHECK(t.run_id == "port-1234");
  clear();

  ::setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  ::setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("MASTER_ADDR is not set"));
  ::setenv("MASTER_ADDR", "node0", 1);
  DistEnv m = DistEnv::from_environment();
  CHECK((m.launcher == "openmpi" && m.rank == 2 && m.world_size == 4 && m.local_rank == 0));
  clear();

  ::setenv("SLURM_PROCID", "5", 1);
  ::setenv("SLURM_NTASKS", "6", 1);
  ::setenv("SLURM_LOCALID", "1", 1);
  ::setenv("SLURM_JOB_ID", "77", 1);
  ::setenv("MASTER_ADDR", "node0", 1);
  DistEnv s = DistEnv::from_environment();
  CHECK((s.launcher == "slurm" && s.rank == 5 && s.world_size == 6 && s.local_rank == 1));
  CHECK(s.run_id == "slurm-77.0");
  clear();

  ::setenv("RANK", "4", 1);
  ::setenv("WORLD_SIZE", "4", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("outside a world of size 4"));
  ::setenv("RANK", "1", 1);
  ::setenv("LOCAL_RANK", "2", 1);
  ::setenv("LOCAL_WORLD_SIZE", "2", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("local rank 2 with 2 ranks on this node"));
  ::setenv("LOCAL_RANK", "0", 1);
  ::setenv("LOCAL_WORLD_SIZE", "8", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("inconsistent"));
  ::unsetenv("LOCAL_RANK");
  ::unsetenv("LOCAL_WORLD_SIZE");
  ::setenv("RANK", "x", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("not a non-negative integer"));
  ::setenv("RANK", "0", 1);
  ::setenv("WORLD_SIZE", "1048577", 1);
  CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("world size must be in [1, 1048576]"));
  clear();
}
