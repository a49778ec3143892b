#include "trainer.h"

#include <ember/ember.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../common/cli.h"
#include "graphed_step.h"
#include "metrics.h"
#include "progress.h"

namespace train_mnist {

namespace {

// Set by SIGINT/SIGTERM during training (stop_cleanly_on_signals).
std::atomic<bool> stop_requested{false};

using namespace ember;
using Clock = std::chrono::steady_clock;

struct Split {
  Tensor images;  // (N, 1, 28, 28) float32, on the training device
  Tensor labels;  // (N) int64, on the training device
};

Split load_split(const std::string& dir, bool train, const Options& o, Device device) {
  data::MNIST mnist(dir, train, data::MNISTOptions().with_normalize(o.normalize));
  Split s{mnist.images(), mnist.labels()};
  if (train && o.limit_train > 0 && o.limit_train < s.images.size(0)) {
    s.images = s.images.narrow(0, 0, o.limit_train);
    s.labels = s.labels.narrow(0, 0, o.limit_train);
  }
  // The whole dataset lives on the device (47 MB for MNIST): each epoch's batches are gathered there.
  return {s.images.contiguous().to(device), s.labels.contiguous().to(device)};
}

Device pick_device(const Options& o, const dist::DistEnv& env) {
  if (o.device == "auto") return cuda::is_available() ? cuda_device(env.local_rank % cuda::device_count()) : kCPU;
  Device d(o.device);
  if (d.is_cuda()) {
    EMBER_CHECK(cuda::is_available(), "--device ", o.device, ": no CUDA device is available");
    EMBER_CHECK(d.index < cuda::device_count(), "--device ", o.device, ": only ", cuda::device_count(), " CUDA devices");
    // Plain "cuda": this rank's GPU, the one the NCCL process group picks (LOCAL_RANK modulo the count).
    if (o.device == "cuda") d = cuda_device(env.local_rank % cuda::device_count());
  }
  return d;
}

// captured: the step will run in a CUDA graph, so Adam and Adadelta keep their step counts on the
// device (SGD keeps none).
std::unique_ptr<optim::Optimizer> make_optimizer(const Options& o, const TensorList& params, bool captured) {
  if (o.optimizer == "sgd") return std::make_unique<optim::SGD>(params, optim::SGDOptions(o.lr).momentum(o.momentum));
  if (o.optimizer == "adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions(o.lr).capturable(captured));
  if (o.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(params, optim::AdamOptions(o.lr).weight_decay(0.01).capturable(captured));
  }
  return std::make_unique<optim::Adadelta>(params, optim::AdadeltaOptions(o.lr).capturable(captured));
}

// Reduces a few float32 values over the ranks: on the device for NCCL, in host memory for Gloo.
Tensor reduce_over_ranks(dist::ProcessGroup& pg, const Tensor& values, dist::ReduceOp op, Device device) {
  Tensor buffer = values.to(kFloat32).to(pg.backend() == "nccl" ? device : kCPU).clone();
  pg.all_reduce(buffer, op);
  return buffer;
}

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
};

// Test loss and accuracy over this rank's shard of the test set, summed over ranks.
EvalResult evaluate(nn::MnistNet& model, const Split& test, int64_t batch_size, dist::ProcessGroup* pg) {
  NoGradGuard no_grad;
  model.eval();
  int64_t n = test.images.size(0);
  int rank = pg ? pg->rank() : 0, world = pg ? pg->size() : 1;
  int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  Tensor loss_sum = zeros({}, TensorOptions(kFloat64).with_device(test.images.device()));
  Tensor correct = zeros({}, TensorOptions(kFloat64).with_device(test.images.device()));
  for (int64_t i = begin; i < end; i += batch_size) {
    int64_t len = std::min(batch_size, end - i);
    Tensor logits = model.forward_logits(test.images.narrow(0, i, len));
    Tensor labels = test.labels.narrow(0, i, len);
    loss_sum = add(loss_sum, cross_entropy(logits, labels, Reduction::Sum).to(kFloat64));
    correct = add(correct, sum(eq(argmax(logits, 1), labels).to(kFloat64)));
  }
  Tensor totals = cat({loss_sum.reshape({1}), correct.reshape({1})}, 0);
  if (pg) totals = reduce_over_ranks(*pg, totals, dist::ReduceOp::Sum, test.images.device());
  std::vector<double> t = totals.to_vector<double>();
  model.train();
  return {t[0] / n, t[1] / n};
}

// A number train_mnist stored in a checkpoint's metadata; a clear error when it is not there.
uint64_t metadata_number(const nn::CheckpointInfo& info, const std::string& key, const std::string& path) {
  auto it = info.metadata.find(key);
  EMBER_CHECK(it != info.metadata.end(), path, ": not a train_mnist checkpoint (no '", key, "' in its metadata)");
  uint64_t value = 0;
  EMBER_CHECK(ember::cli::parse_digits(it->second, value) == ember::cli::Digits::Ok, path, ": metadata '", key,
              "' must be a whole number in [0, 2^64), got '", it->second, "'");
  return value;
}

// The shortest decimal text that reads back as exactly v ("0.7", not "0.69999999999999996"): for
// messages, the settings compared across ranks, and the values kept in checkpoints.
std::string exact_text(double v) {
  char buffer[32];
  for (int digits = 1;; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
    if (digits >= 17 || std::strtod(buffer, nullptr) == v) return buffer;
  }
}

// PyTorch-style resume: the run continues the checkpoint's optimizer (its kind, hyperparameters and
// the schedule from its initial lr; the StepLR gamma that train_mnist keeps beside them). An
// optimizer flag given on the command line that says otherwise is refused rather than half applied.
// Returns the options with the checkpoint's values, for the optimizer, the banner and the metrics.
// Values the checkpoint lacks or holds malformed stay the flags' (load_checkpoint reports the latter).
Options resumed_options(const Options& o) {
  Options run = o;
  const std::map<std::string, std::string> meta = data::read_safetensors_metadata(o.resume);
  auto number = [&](const std::string& key) -> std::optional<double> {
    auto it = meta.find(key);
    return it == meta.end() ? std::nullopt : ember::cli::parse_finite(it->second);
  };
  auto refuse = [&](const std::string& flag, const std::string& given, const std::string& saved) {
    throw FlagError(flag + " " + given + " differs from the checkpoint's " + saved + " (" + o.resume +
                    "): a resumed run continues the checkpoint's optimizer settings; drop " + flag +
                    " or start a new run");
  };
  auto type = meta.find("optim.type");
  if (type != meta.end()) {
    std::string kind = type->second;
    std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return std::tolower(c); });
    if (kind == "sgd" || kind == "adam" || kind == "adamw" || kind == "adadelta") {
      if (o.given.count("--optimizer") && o.optimizer != kind) refuse("--optimizer", o.optimizer, kind);
      run.optimizer = kind;
    }
  }
  // --lr is the run's first lr, the checkpoint's initial_lr (one saved before Ember kept it has none:
  // the flag's lr stays the base, as load_state_dict falls back to the lr the optimizer was made with).
  std::optional<double> initial_lr = number("optim.initial_lr");
  if (initial_lr) {
    if (o.given.count("--lr") && o.lr != *initial_lr) refuse("--lr", exact_text(o.lr), exact_text(*initial_lr));
    run.lr = *initial_lr;
  }
  if (run.optimizer == "sgd") {
    if (std::optional<double> momentum = number("optim.momentum")) {
      if (o.given.count("--momentum") && o.momentum != *momentum) {
        refuse("--momentum", exact_text(o.momentum), exact_text(*momentum));
      }
      run.momentum = *momentum;
    }
  }
  if (std::optional<double> gamma = number("train_mnist.gamma")) {
    if (o.given.count("--gamma") && o.gamma != *gamma) refuse("--gamma", exact_text(o.gamma), exact_text(*gamma));
    run.gamma = *gamma;
  }
  return run;
}

// The settings every rank must share: one that differs would run other collectives (another
// number of steps or evaluations: Gloo aborts the process on mismatched message sizes) or train
// another model. Each rank compares its own with rank 0's through the store, before any collective.
void check_same_settings_as_rank0(dist::ProcessGroup& pg, const Options& o, int start_epoch) {
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"--batch-size", std::to_string(o.batch_size)},
      {"--per-rank-batch", o.per_rank_batch ? "on" : "off"},
      {"--test-batch-size", std::to_string(o.test_batch_size)},
      {"--epochs", std::to_string(o.epochs)},
      {"--limit-train", std::to_string(o.limit_train)},
      {"--log-interval", std::to_string(o.log_interval)},
      {"--lr", exact_text(o.lr)},
      {"--momentum", exact_text(o.momentum)},
      {"--gamma", exact_text(o.gamma)},
      {"--optimizer", o.optimizer},
      {"--seed", std::to_string(o.seed)},
      {"--dataset", o.dataset},
      {"--normalize", o.normalize ? "on" : "off"},
      {"--bench", o.bench ? "on" : "off"},
      {"--profile", std::to_string(o.profile_steps)},
      {"--cuda-graph", o.cuda_graph},
      {"--cuda-graph-steps", std::to_string(o.cuda_graph_steps)},
      {"the epoch resumed from (--resume)", std::to_string(start_epoch)},
  };
  std::string mine;
  for (const auto& [flag, value] : settings) mine += flag + "\t" + value + "\n";
  const std::string key = "train_mnist/settings";
  auto& store = *pg.store();
  if (pg.rank() == 0) store.set(key, mine);
  const std::string reference = store.get_string(key);
  if (reference == mine) return;
  std::istringstream theirs(reference);
  for (const auto& [flag, value] : settings) {
    std::string line;
    std::getline(theirs, line);
    const std::string rank0_value = line.substr(std::min(line.find('\t') + 1, line.size()));
    EMBER_CHECK(rank0_value == value, "rank ", pg.rank(), " was started with ", flag, " ", value, " but rank 0 with ",
                flag, " ", rank0_value, ": every rank needs the same settings");
  }
  EMBER_FAIL("rank ", pg.rank(), "'s settings differ from rank 0's");
}

// SIGINT and SIGTERM during training: finish the step, skip the rest, exit 130. The handler is
// one-shot (SA_RESETHAND): a second signal kills as usual (say, while a collective waits on a peer
// that will never answer).
void on_stop_signal(int) { stop_requested = true; }
void stop_cleanly_on_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

int run_training(const Options& flags, const char* argv0) {
  // With --resume, the checkpoint's optimizer settings; checked before any other work.
  const Options o = flags.resume.empty() ? flags : resumed_options(flags);
  if (o.threads > 0) {
    try {
      set_num_threads(o.threads);
    } catch (const Error& e) {
      EMBER_FAIL("--threads ", o.threads, ": ", e.what());
    }
  } else {
    get_num_threads();  // makes the pool now: a bad $EMBER_NUM_THREADS is reported before any work
  }
  dist::DistEnv env = dist::DistEnv::from_environment();
  bool distributed = env.world_size > 1 || o.ddp;
  Device device = pick_device(o, env);
  // --cuda-graph auto (the default) captures the step wherever that is valid; on insists.
  const std::string graph_blocker = graph_capture_blocker(o, device, distributed, o.data_parallel);
  EMBER_CHECK(o.cuda_graph != "on" || graph_blocker.empty(), "--cuda-graph on: ", graph_blocker);
  const bool use_graph = o.cuda_graph != "off" && graph_blocker.empty();
  if (device.is_cuda()) {
    cuda::set_device(device.index);
    cuda::set_cudnn_benchmark(o.cudnn_benchmark == "on");
    cuda::set_cudnn_allow_tf32(o.cudnn_tf32 == "on");
    cuda::set_concurrent_weight_grads(o.concurrent_wgrad == "on");
  }
  // GPU work runs on a stream of its own (the legacy default stream cannot be captured in a graph).
  std::optional<cuda::StreamGuard> compute_stream;
  if (device.is_cuda()) compute_stream.emplace(cuda::create_stream(device.index));

  std::shared_ptr<dist::ProcessGroup> pg;
  if (distributed) {
    std::string backend = o.backend.empty() ? (device.is_cuda() ? "nccl" : "gloo") : o.backend;
    // --dist-timeout is bounded (options.cpp), so the count fits and is at least 1 ms.
    pg = dist::init_process_group(backend, env, std::chrono::milliseconds(std::llround(o.dist_timeout * 1000)));
  }
  int rank = pg ? pg->rank() : 0, world = pg ? pg->size() : 1;
  bool lead = rank == 0;
  bool chatty = lead && !o.quiet;

  std::string data_dir = find_data_dir(o, argv0);
  Split train = load_split(data_dir, true, o, device);
  Split test = load_split(data_dir, false, o, device);
  EMBER_CHECK(test.images.size(0) > 0, data_dir, ": the test set holds no images");
  int64_t global_batch = o.per_rank_batch ? o.batch_size * world : o.batch_size;
  EMBER_CHECK(global_batch % world == 0, "--batch-size ", o.batch_size, " does not split evenly over ", world, " ranks");
  int64_t local_batch = global_batch / world;
  int64_t steps_per_epoch = train.images.size(0) / global_batch;  // drop_last, as the seed's loader
  EMBER_CHECK(steps_per_epoch > 0, "the training set (", train.images.size(0), " images) is smaller than one batch of ",
              global_batch);

  manual_seed(o.seed);
  Generator init_generator(o.seed);
  auto model = std::make_shared<nn::MnistNet>(&init_generator);
  model->to(device);
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(o, model->parameters(), use_graph);
  Generator shuffle_generator(o.seed + 1);

  int start_epoch = 0;
  if (!o.resume.empty()) {
    nn::CheckpointInfo info = nn::load_checkpoint(o.resume, *model, optimizer.get());
    start_epoch = static_cast<int>(info.epoch);
    shuffle_generator.set_state(info.generator_state);
    default_generator().set_state({metadata_number(info, "train_mnist.default_rng_seed", o.resume),
                                   metadata_number(info, "train_mnist.default_rng_offset", o.resume)});
    EMBER_CHECK(start_epoch < o.epochs, "--resume: ", o.resume, " already holds epoch ", start_epoch, " of --epochs ",
                o.epochs);
  }
  // Made after loading, so that it starts from the checkpoint's initial lr (a StepLR made first would
  // set initial_lr from the flags' lr and keep it as its base).
  optim::StepLR scheduler(*optimizer, 1, o.gamma);
  if (!o.resume.empty()) {
    scheduler.set_epoch(start_epoch);
    if (chatty) std::printf("resumed from %s after epoch %d\n", o.resume.c_str(), start_epoch);
  }

  if (pg) check_same_settings_as_rank0(*pg, o, start_epoch);
  std::unique_ptr<dist::DistributedDataParallel> ddp;
  if (pg) ddp = std::make_unique<dist::DistributedDataParallel>(model, pg);
  std::unique_ptr<dist::DataParallel> data_parallel;
  if (o.data_parallel) {
    EMBER_CHECK(!pg, "--data-parallel drives every local GPU from one process; do not combine it with WORLD_SIZE > 1");
    data_parallel = std::make_unique<dist::DataParallel>(model, [] { return std::make_shared<nn::MnistNet>(); });
  }

  if (chatty) {
    std::printf("train_mnist: %s on %s%s%s, %lld train / %lld test images, batch %lld, %s lr %g momentum %g, %d epochs\n",
                o.dataset.c_str(), device.str().c_str(), use_graph ? " (step in a CUDA graph)" : "",
                distributed ? (" x " + std::to_string(world) + " ranks (" + pg->backend() + ")").c_str() : "",
                static_cast<long long>(train.images.size(0)), static_cast<long long>(test.images.size(0)),
                static_cast<long long>(global_batch), o.optimizer.c_str(), o.lr, o.momentum, o.epochs);
    if (device.is_cpu()) std::printf("train_mnist: %d CPU threads, %s\n", get_num_threads(), blas_info().c_str());
  }

  // One training step on a batch; the loss is added to loss_sum (at a fixed address, so that the
  // step can be captured in a CUDA graph; the log prints means of it).
  Tensor loss_sum = zeros({}, TensorOptions(kFloat32).with_device(device));
  auto run_step = [&](const Tensor& images, const Tensor& labels) {
    optimizer->zero_grad(/*set_to_none=*/true);  // backward then hands over its gradients: no fill, no add
    Tensor loss;
    if (data_parallel) {
      // Forward and backward on every device at once; gradients summed into the main module.
      double value = data_parallel->train_step(images, labels, [](const Tensor& log_probs, const Tensor& target) {
        return nll_loss(log_probs, target);
      });
      loss = scalar_tensor(value, TensorOptions(kFloat32).with_device(device));
    } else {
      // DDP's forward returns log-probabilities; alone, the logits feed the fused cross-entropy.
      loss = ddp ? nll_loss(ddp->forward(images), labels) : cross_entropy(model->forward_logits(images), labels);
      loss.backward();  // under DDP the gradients are averaged when it returns
    }
    optimizer->step();
    if (data_parallel) data_parallel->sync_replicas();
    NoGradGuard no_grad;
    loss_sum.add_(loss.detach());
  };
  // --profile: the first epoch's steps [kWarmupSteps, kWarmupSteps + profile_steps) run eagerly
  // with every kernel timed; the graph, if any, is captured after them.
  const int64_t profile_begin = GraphedStep::kWarmupSteps, profile_end = profile_begin + o.profile_steps;
  EMBER_CHECK(o.profile_steps == 0 || profile_end <= steps_per_epoch, "--profile ", o.profile_steps, " needs ",
              profile_end, " steps in an epoch (", profile_begin, " of them warm-up) but an epoch has ", steps_per_epoch);
  GraphedStep train_step(run_step, local_batch, use_graph, o.cuda_graph == "on", profile_end,
                         o.cuda_graph_steps);
  std::vector<profiler::KernelStats> profile;

  MetricsLog log(o, device.str(), world);
  const std::string gamma_text = exact_text(o.gamma);  // kept in checkpoints beside the optimizer's lrs
  // Until here (the rendezvous, loading) a signal stops the process at once: nothing to save.
  stop_cleanly_on_signals();
  for (int epoch = start_epoch + 1; epoch <= o.epochs && !stop_requested; ++epoch) {
    // Every rank draws the same permutation and takes its own slice of each global batch.
    Tensor permutation = randperm(train.images.size(0), &shuffle_generator).to(device);
    Progress progress(epoch, o.epochs, steps_per_epoch, global_batch, o.log_interval, chatty);
    if (device.is_cuda()) cuda::synchronize();
    auto epoch_start = Clock::now();
    // This rank's batches of the epoch, in order, gathered in one pass (rows [s * local_batch,
    // (s + 1) * local_batch) are step s's batch): a step then reads a slice, with no gather of its own.
    Tensor rank_index = permutation.narrow(0, 0, steps_per_epoch * global_batch)
                            .reshape({steps_per_epoch, world, local_batch})
                            .select(1, rank)
                            .reshape({steps_per_epoch * local_batch});
    Tensor epoch_images = index_select(train.images, 0, rank_index);
    Tensor epoch_labels = index_select(train.labels, 0, rank_index);
    loss_sum.zero_();
    int64_t steps_done = 0;
    for (int64_t step = 0; step < steps_per_epoch && !stop_requested;) {
      // One step, or several replayed from one CUDA graph.
      const int64_t steps = train_step.next_run_steps(steps_per_epoch - step);
      const int64_t first_row = step * local_batch, rows = steps * local_batch;
      const bool profiled = o.profile_steps > 0 && epoch == start_epoch + 1 && step >= profile_begin && step < profile_end;
      if (profiled && step == profile_begin) profiler::start();
      train_step.run(epoch_images.narrow(0, first_row, rows), epoch_labels.narrow(0, first_row, rows));
      if (profiled && step + 1 == profile_end) profile = profiler::stop();
      step += steps;
      steps_done += steps;
      progress.step(step, [&] { return loss_sum.item(); });
    }
    progress.finish();
    if (device.is_cuda()) cuda::synchronize();
    double epoch_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    if (stop_requested) break;
    scheduler.step();
    if (o.gamma != 1.0) train_step.recapture();  // the learning rate is baked into the captured step

    const bool tested = !o.bench || epoch == o.epochs;  // --bench tests after the last epoch only
    EvalResult eval;
    if (tested) eval = evaluate(*model, test, o.test_batch_size, pg.get());
    // The epoch's mean training loss over every rank's batches.
    if (pg) loss_sum = reduce_over_ranks(*pg, loss_sum.reshape({1}), dist::ReduceOp::Avg, device);
    EpochMetrics metrics;
    metrics.epoch = epoch;
    metrics.train_loss = loss_sum.item() / std::max<int64_t>(steps_done, 1);
    if (tested) {
      metrics.test_loss = eval.loss;
      metrics.test_accuracy = eval.accuracy;
    }
    metrics.epoch_seconds = epoch_seconds;
    metrics.cuda_graph = train_step.using_graph();
    metrics.samples_per_second = steps_done * global_batch / epoch_seconds;
    if (lead) {
      log.record(metrics);
      if (!o.save_model.empty()) {
        Generator::State dropout_rng = default_generator().state();
        nn::save_checkpoint(o.save_model, *model, optimizer.get(), epoch, shuffle_generator.state(),
                            {{"train_mnist.default_rng_seed", std::to_string(dropout_rng.seed)},
                             {"train_mnist.default_rng_offset", std::to_string(dropout_rng.offset)},
                             {"train_mnist.gamma", gamma_text}});
      }
    }
  }
  if (stop_requested) {
    if (lead) std::fprintf(stderr, "train_mnist: interrupted; stopped cleanly\n");
    return 130;
  }
  if (o.bench && lead) log.print_bench_summary(static_cast<double>(steps_per_epoch * global_batch));
  if (o.profile_steps > 0 && lead) log.record_profile(std::move(profile), o.profile_steps);
  return 0;
}

}  // namespace train_mnist
