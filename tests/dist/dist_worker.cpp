// dist_worker: the program the multi-process dist tests launch (directly or through ember-run),
// one process per rank, configured by the usual RANK/WORLD_SIZE/MASTER_* environment.
//   dist_worker collectives                       closed-form checks of every collective
//   dist_worker train --out FILE [options]        trains a small MLP, rank 0 writes the parameters
//   dist_worker spin --fault-rank R --fault-after-ms MS   all-reduces small tensors back to back
//                                                 until rank R SIGKILLs itself, mid-collective
// train options: --steps N --batch B (global, per optimizer step) --accumulate K (micro-batches
// per step, the first K-1 under no_sync) --bucket-cap BYTES --unused (a parameter that gets no
// gradient) --partly-used (rank 0 alone uses it) --find-unused --single (one process, no DDP, the
// reference) --eval (the module in eval mode) --zero-after-forward (zero_grad(set_to_none) between
// forward and backward) --no-finalize (never calls DDP's finalize()) --collective-after-backward
// (an all_reduce of its own right after each backward) --regularise (then a second backward, of
// 1e-3 * sum(fc1_weight^2), outside DDP) --fault-rank R --fault-step S (that rank
// SIGKILLs itself at step S) --error-rank R --error-step S (that rank throws "injected error" at
// step S) --exit-delay-ms MS (the --error-rank waits that long after its error before it exits, so
// that a peer failing because of it exits first) --step-sleep-ms MS --timeout SECONDS. With DDP
// every rank checks at the end that its parameters equal rank 0's bit for bit.
// Exits 0 on success, 1 with "rank R: error: ..." on stderr (and in EMBER_ERROR_FILE) otherwise.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <ember/dist/ddp.h>
#include <ember/dist/env.h>
#include <ember/dist/process_group.h>
#include <ember/ember.h>
#include <ember/nn/module.h>

using namespace ember;

namespace {

std::map<std::string, std::string> parse_flags(int argc, char** argv, int first) {
  std::map<std::string, std::string> flags;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    bool has_value = i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0;
    flags[a.substr(2)] = has_value ? argv[++i] : "1";
  }
  return flags;
}

// Deterministic values in [-1, 1) from an integer (no RNG state shared between processes).
double hashed_uniform(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 52) - 1.0;
}

Tensor hashed_tensor(const Shape& sizes, uint64_t seed) {
  std::vector<double> v(static_cast<size_t>(shape_numel(sizes)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = hashed_uniform(seed * 1000003ULL + i);
  return from_vector<double>(v, sizes);
}

constexpr int64_t kIn = 8, kHidden = 16, kOut = 4;

// A two-layer MLP in float64, optionally with a parameter that the forward never uses.
class TinyNet : public nn::Module {
 public:
  TinyNet(uint64_t seed, bool with_unused) : Module("TinyNet") {
    w1 = register_parameter("fc1_weight", hashed_tensor({kHidden, kIn}, seed * 10 + 1).mul_(0.5));
    b1 = register_parameter("fc1_bias", hashed_tensor({kHidden}, seed * 10 + 2).mul_(0.1));
    w2 = register_parameter("fc2_weight", hashed_tensor({kOut, kHidden}, seed * 10 + 3).mul_(0.5));
    b2 = register_parameter("fc2_bias", hashed_tensor({kOut}, seed * 10 + 4).mul_(0.1));
    if (with_unused) unused = register_parameter("unused_weight", hashed_tensor({3, 3}, seed * 10 + 5));
  }
  Tensor forward(const Tensor& x) override {
    Tensor out = linear(relu(linear(x, w1, b1)), w2, b2);
    return use_unused ? out + sum(unused) * 1e-3 : out;
  }
  Tensor w1, b1, w2, b2, unused;
  bool use_unused = false;  // --partly-used: this rank's forward uses the "unused" parameter
};

// The global batch of step `step`, micro-batch `micro`: rows [0, batch).
std::pair<Tensor, Tensor> global_batch(int64_t step, int64_t micro, int64_t batch) {
  uint64_t seed = static_cast<uint64_t>(step * 97 + micro) + 12345;
  return {hashed_tensor({batch, kIn}, seed), hashed_tensor({batch, kOut}, seed + 7777)};
}

// d(mean squared error)/d(out), computed by hand so the test needs no reduction op.
Tensor mse_grad(const Tensor& out, const Tensor& target, double scale) {
  NoGradGuard no_grad;
  return (out.detach() - target) * (2.0 * scale / static_cast<double>(out.numel()));
}

int run_collectives(const dist::DistEnv& env, std::chrono::milliseconds timeout) {
  auto pg = dist::init_process_group("gloo", env, timeout);
  int n = pg->size(), r = pg->rank();
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) throw Error("collective check failed: " + what);
  };
  for (DType dtype : {kFloat32, kFloat64, kInt64}) {
    Tensor t = full({5, 3}, r, TensorOptions(dtype));
    pg->all_reduce(t, dist::ReduceOp::Sum);
    for (double v : t.to_vector<double>()) expect(v == n * (n - 1) / 2.0, "all_reduce sum " + std::string(dtype_name(dtype)));
  }
  Tensor avg = full({7}, r, TensorOptions(kFloat64));
  pg->all_reduce(avg, dist::ReduceOp::Avg);
  for (double v : avg.to_vector<double>()) expect(std::abs(v - (n - 1) / 2.0) < 1e-12, "all_reduce avg");
  // Several async reductions in flight at once, waited in reverse.
  std::vector<Tensor> ts;
  std::vector<std::shared_ptr<dist::Work>> works;
  for (int i = 0; i < 6; ++i) {
    ts.push_back(full({1000 + i}, r + i, TensorOptions(kFloat32)));
    works.push_back(pg->all_reduce_async(ts.back(), dist::ReduceOp::Sum));
  }
  for (int i = 5; i >= 0; --i) {
    works[static_cast<size_t>(i)]->wait();
    for (double v : ts[static_cast<size_t>(i)].to_vector<double>())
      expect(v == n * (n - 1) / 2.0 + n * i, "async all_reduce " + std::to_string(i));
  }
  for (int root = 0; root < n; ++root) {
    Tensor b = full({4, 2}, r * 10 + 1, TensorOptions(kFloat64));
    pg->broadcast(b, root);
    for (double v : b.to_vector<double>()) expect(v == root * 10 + 1, "broadcast from " + std::to_string(root));
  }
  Tensor g = pg->all_gather(full({3}, r, TensorOptions(kInt64)));
  expect(g.sizes() == Shape{n, 3}, "all_gather shape " + shape_str(g.sizes()));
  auto gv = g.to_vector<int64_t>();
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < 3; ++j) expect(gv[static_cast<size_t>(i * 3 + j)] == i, "all_gather value");
  // Empty tensors: an empty [n, ...] gather (Gloo's all_gather died of SIGFPE on them), and the
  // group stays in step for the next collective.
  for (const Shape& shape : {Shape{0}, Shape{2, 0}}) {
    Tensor e = pg->all_gather(zeros(shape, TensorOptions(kFloat32)));
    Shape expected = shape;
    expected.insert(expected.begin(), n);
    expect(e.sizes() == expected, "empty all_gather shape " + shape_str(e.sizes()));
  }
  Tensor none = zeros({0}, TensorOptions(kFloat64));
  pg->all_reduce(none, dist::ReduceOp::Avg);
  pg->broadcast(none, n - 1);
  Tensor after = pg->all_gather(full({2}, r, TensorOptions(kInt64)));
  expect(after.to_vector<int64_t>()[static_cast<size_t>(2 * (n - 1))] == n - 1, "all_gather after empty ones");
  pg->barrier();
  std::printf("rank %d: collectives OK\n", r);
  return 0;
}

// Back-to-back small all-reduces keep every rank writing to its peers, so the fault lands while
// a survivor is in the middle of a write to the rank that died.
int run_spin(const dist::DistEnv& env, const std::map<std::string, std::string>& flags,
             std::chrono::milliseconds timeout) {
  auto pg = dist::init_process_group("gloo", env, timeout);
  const int fault_rank = flags.count("fault-rank") ? std::stoi(flags.at("fault-rank")) : -1;
  const int fault_after_ms = flags.count("fault-after-ms") ? std::stoi(flags.at("fault-after-ms")) : 100;
  if (env.rank == fault_rank) {
    std::thread([fault_after_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(fault_after_ms));
      ::raise(SIGKILL);
    }).detach();
  }
  Tensor t = full({1000}, 1.0, TensorOptions(kFloat32));
  for (;;) pg->all_reduce(t, dist::ReduceOp::Avg);  // the values stay 1
}

int run_train(const dist::DistEnv& env, const std::map<std::string, std::string>& flags,
              std::chrono::milliseconds timeout) {
  auto flag = [&](const std::string& k, double d) { return flags.count(k) ? std::stod(flags.at(k)) : d; };
  const int64_t steps = static_cast<int64_t>(flag("steps", 5));
  const int64_t batch = static_cast<int64_t>(flag("batch", 16));
  const int64_t accumulate = static_cast<int64_t>(flag("accumulate", 1));
  const double lr = 0.1;
  const bool single = flags.count("single") > 0;
  const int fault_rank = static_cast<int>(flag("fault-rank", -1));
  const int64_t fault_step = static_cast<int64_t>(flag("fault-step", -1));
  const int error_rank = static_cast<int>(flag("error-rank", -1));
  const int64_t error_step = static_cast<int64_t>(flag("error-step", -1));
  const auto step_sleep = std::chrono::milliseconds(static_cast<int64_t>(flag("step-sleep-ms", 0)));

  int rank = single ? 0 : env.rank;
  int world = single ? 1 : env.world_size;
  // Every rank starts from different weights: DDP must broadcast rank 0's.
  auto model = std::make_shared<TinyNet>(static_cast<uint64_t>(rank), flags.count("unused") > 0);
  model->use_unused = flags.count("partly-used") > 0 && rank == 0;
  if (flags.count("eval")) model->eval();
  std::unique_ptr<dist::DistributedDataParallel> ddp;
  std::shared_ptr<dist::ProcessGroup> pg;
  if (!single) {
    pg = dist::init_process_group("gloo", env, timeout);
    dist::DDPOptions options;
    if (flags.count("bucket-cap")) options.bucket_cap_bytes = options.first_bucket_cap_bytes = static_cast<int64_t>(flag("bucket-cap", 0));
    options.find_unused_parameters = flags.count("find-unused") > 0;
    ddp = std::make_unique<dist::DistributedDataParallel>(model, pg, options);
    if (rank == 0) std::printf("buckets: %zu\n", ddp->bucket_layout().size());
  }
  if (batch % world != 0) throw Error("batch must divide by the world size");
  const int64_t shard = batch / world;
  for (int64_t step = 0; step < steps; ++step) {
    if (rank == fault_rank && step == fault_step) {
      std::fprintf(stderr, "rank %d: killing myself at step %lld\n", rank, static_cast<long long>(step));
      std::fflush(stderr);
      ::raise(SIGKILL);
    }
    if (rank == error_rank && step == error_step) throw Error("injected error at step " + std::to_string(step));
    model->zero_grad();
    for (int64_t micro = 0; micro < accumulate; ++micro) {
      auto [x, y] = global_batch(step, micro, batch);
      x = x.narrow(0, rank * shard, shard).contiguous();
      y = y.narrow(0, rank * shard, shard).contiguous();
      if (ddp && micro + 1 < accumulate) {
        auto guard = ddp->no_sync();
        Tensor out = ddp->forward(x);
        out.backward(mse_grad(out, y, 1.0 / static_cast<double>(accumulate)));
      } else {
        Tensor out = ddp ? ddp->forward(x) : model->forward(x);
        if (flags.count("zero-after-forward")) model->zero_grad(/*set_to_none=*/true);
        out.backward(mse_grad(out, y, 1.0 / static_cast<double>(accumulate)));
        if (pg && flags.count("collective-after-backward")) pg->all_reduce(full({3}, rank, TensorOptions(kFloat64)));
        // A second, local backward after the reduction (the same on every rank: the weights agree).
        if (flags.count("regularise")) (sum(model->w1 * model->w1) * 1e-3).backward();
      }
    }
    if (ddp && !flags.count("no-finalize")) ddp->finalize();
    if (model->unused.defined() && step + 1 == steps)
      std::printf("rank %d: unused_weight grad %s\n", rank, model->unused.grad().defined() ? "defined" : "undefined");
    {
      NoGradGuard no_grad;
      for (auto& p : model->parameters()) {
        if (p.grad().defined()) p.add_(p.grad(), -lr);
      }
    }
    if (step_sleep.count() > 0) std::this_thread::sleep_for(step_sleep);
  }
  if (pg) {  // every replica must hold rank 0's parameters, bit for bit
    TensorList flat;
    for (auto& p : model->parameters()) flat.push_back(p.detach().reshape({-1}));
    const Tensor mine = cat(flat, 0);
    Tensor all = pg->all_gather(mine);
    for (int64_t r = 1; r < all.size(0); ++r) {
      if (all.select(0, r).to_vector<double>() != all.select(0, 0).to_vector<double>())
        throw Error("the parameters of rank " + std::to_string(r) + " differ from rank 0's");
    }
  }
  if (rank == 0 && flags.count("out")) {
    std::ofstream out(flags.at("out"));
    out.precision(17);
    for (auto& [name, p] : model->named_parameters()) {
      out << name;
      for (double v : p.to_vector<double>()) out << ' ' << v;
      out << '\n';
    }
  }
  std::printf("rank %d: trained %lld steps\n", rank, static_cast<long long>(steps));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dist_worker collectives|train|spin [--flags]\n");
    return 2;
  }
  std::string mode = argv[1];
  int rank = -1;
  int exit_delay_ms = 0;
  try {
    auto flags = parse_flags(argc, argv, 2);
    auto env = dist::DistEnv::from_environment();
    rank = env.rank;
    if (flags.count("exit-delay-ms") && flags.count("error-rank") && std::stoi(flags.at("error-rank")) == rank)
      exit_delay_ms = std::stoi(flags.at("exit-delay-ms"));
    auto timeout = std::chrono::milliseconds(
        static_cast<int64_t>(1000 * (flags.count("timeout") ? std::stod(flags.at("timeout")) : 30.0)));
    if (mode == "collectives") return run_collectives(env, timeout);
    if (mode == "train") return run_train(env, flags, timeout);
    if (mode == "spin") return run_spin(env, flags, timeout);
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: error: %s\n", rank, e.what());
    dist::write_error_file(e);
    if (exit_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(exit_delay_ms));
    return 1;
  }
}
