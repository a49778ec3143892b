#include <ember/dist/process_group.h>

#include <signal.h>

#include <string>
#include <vector>

#include <ember/core/cuda.h>
#include <ember/core/error.h>

namespace ember::dist {

bool gloo_available() {
#ifdef EMBER_WITH_GLOO
  return true;
#else
  return false;
#endif
}

bool nccl_available() {
#ifdef EMBER_WITH_NCCL
  return true;
#else
  return false;
#endif
}

namespace {

std::string joined_key(int rank) { return "rank_" + std::to_string(rank) + "_joined"; }

// "[1, 4, 7]", or the first few and how many in all: the ranks that have not checked in. Asks the
// store about a bounded number of ranks (a huge mistaken world size must not take minutes).
std::string missing_ranks(TCPStore& store, int world_size) {
  constexpr int kShown = 8, kAsked = 4096;
  int64_t joined = -1;
  try {
    joined = store.add("ranks_joined", 0);
  } catch (const Error&) {
  }
  std::string names;
  int shown = 0, asked = 0;
  for (int i = 0; i < world_size && shown < kShown && asked < kAsked; ++i, ++asked) {
    try {
      if (store.check({joined_key(i)})) continue;
    } catch (const Error&) {
      return "";
    }
    names += (names.empty() ? "" : ", ") + std::to_string(i);
    ++shown;
  }
  if (shown == 0) return "";
  const int64_t missing = joined >= 0 ? world_size - joined : -1;
  if (missing > shown) names += ", ... (" + std::to_string(missing) + " of " + std::to_string(world_size) + ")";
  return "[" + names + "]";
}

}  // namespace

std::shared_ptr<Rendezvous> Rendezvous::connect(const DistEnv& env, std::chrono::milliseconds timeout) {
  auto r = std::make_shared<Rendezvous>();
  if (env.rank == 0) r->server = std::make_unique<TCPStoreServer>(env.master_port, env.run_id);
  r->store = std::make_shared<TCPStore>(env.master_addr, env.master_port, env.run_id, timeout);
  // Every rank checks in, so a rank that never starts is reported by the store, by name.
  r->store->add("ranks_joined", 1);
  r->store->set(joined_key(env.rank), std::string("1"));
  std::vector<std::string> all;
  for (int i = 0; i < env.world_size; ++i) all.push_back(joined_key(i));
  try {
    r->store->wait(all, timeout);
  } catch (const Error& e) {
    const std::string missing = missing_ranks(*r->store, env.world_size);
    if (missing.empty()) EMBER_FAIL("dist: rendezvous failed (", env.str(), "): ", e.what());
    EMBER_FAIL("dist: rendezvous failed after ", timeout.count() / 1000.0, " s: rank(s) ", missing, " never joined (",
               env.str(), ")");
  }
  return r;
}

namespace {

void ignore_signal(int) {}

// Gloo writes to its sockets with writev, which has no MSG_NOSIGNAL: once a peer has died, a
// write to it can raise SIGPIPE, whose default action kills this rank with no message instead
// of letting the collective fail with an error that names the peer (seen: 3 ranks all-reducing,
// one SIGKILLed, a survivor died of SIGPIPE in about one run in four). Python, where PyTorch's
// ranks run, ignores SIGPIPE for the same reason. A no-op handler turns the signal into an EPIPE
// error from the write; unlike SIG_IGN it is reset by exec, so programs this one starts keep the
// default. A disposition the program chose itself is left alone.
void turn_broken_pipes_into_errors() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) != 0) return;
  if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) return;
  struct sigaction quiet {};
  quiet.sa_handler = ignore_signal;
  sigemptyset(&quiet.sa_mask);
  quiet.sa_flags = SA_RESTART;
  ::sigaction(SIGPIPE, &quiet, nullptr);
}

}  // namespace

void ProcessGroup::check_collective(const char* name, const Tensor& tensor, ReduceOp op) const {
  EMBER_CHECK(tensor.defined(), backend(), " ", name, ": undefined tensor");
  EMBER_CHECK(tensor.is_contiguous(), backend(), " ", name, ": the tensor must be contiguous, got ", tensor.str());
  EMBER_CHECK(op != ReduceOp::Avg || is_floating(tensor.dtype()), backend(), " ", name,
              ": average needs a floating tensor, got ", tensor.str());
}

std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend, const DistEnv& env,
                                                 std::chrono::milliseconds timeout) {
  std::string chosen = backend;
  if (chosen == "auto") chosen = (nccl_available() && cuda::is_available()) ? "nccl" : "gloo";
  EMBER_CHECK(chosen == "gloo" || chosen == "nccl", "init_process_group: unknown backend '", backend,
              "' (expected gloo, nccl or auto)");
  EMBER_CHECK(chosen != "gloo" || gloo_available(),
              "init_process_group: Ember was built without Gloo (install libgloo-dev and reconfigure), so the "
              "gloo backend is not available");
  EMBER_CHECK(chosen != "nccl" || nccl_available(),
              "init_process_group: Ember was built without NCCL (it needs CUDA and nccl.h/libnccl), so the nccl "
              "backend is not available; use --backend gloo");
  turn_broken_pipes_into_errors();
  auto rendezvous = Rendezvous::connect(env, timeout);
#ifdef EMBER_WITH_GLOO
  if (chosen == "gloo") return detail::make_gloo_process_group(env, std::move(rendezvous), timeout);
#endif
#ifdef EMBER_WITH_NCCL
  if (chosen == "nccl") return detail::make_nccl_process_group(env, std::move(rendezvous), timeout);
#endif
  EMBER_FAIL("init_process_group: backend ", chosen, " unavailable");
}

}  // namespace ember::dist
