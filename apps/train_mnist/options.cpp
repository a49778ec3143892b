#include "options.h"

#include <CLI/CLI.hpp>
#include <ember/core/atomic_file.h>
#include <ember/core/error.h>
#include <ember/core/threads.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "../common/cli.h"

namespace fs = std::filesystem;

namespace train_mnist {

namespace {
using ember::cli::number_in;
using ember::cli::positive_number;

// Whether two paths name one file: the same file where both exist (links included), else the same
// path once made absolute and normalised (the existing part of it resolved).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    bool same = fs::equivalent(a, b, ec);
    if (!ec) return same;
  }
  fs::path pa = fs::weakly_canonical(fs::absolute(a, ec), ec), pb = fs::weakly_canonical(fs::absolute(b, ec), ec);
  return pa.lexically_normal() == pb.lexically_normal();
}
}  // namespace

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  CLI::App app{"Train the classic MNIST Net (conv-pool-relu x2, fc-relu, fc, log-softmax) with Ember.\n"
               "With no arguments: MNIST from data/mnist, SGD lr 0.01, batch 100, 5 epochs, on the GPU if present."};
  app.add_option("--batch-size", o.batch_size, "Global training batch size (split over ranks unless --per-rank-batch)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  app.add_option("--test-batch-size", o.test_batch_size, "Batch size for evaluation")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  app.add_option("--epochs", o.epochs, "Number of epochs to train")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--lr", o.lr, "Learning rate")->check(positive_number())->capture_default_str();
  app.add_option("--momentum", o.momentum, "SGD momentum")->check(number_in(0, 1))->capture_default_str();
  app.add_option("--optimizer", o.optimizer, "Optimizer")
      ->check(CLI::IsMember({"sgd", "adam", "adamw", "adadelta"}))->capture_default_str();
  app.add_option("--gamma", o.gamma, "StepLR decay of the learning rate after each epoch (1: constant)")
      ->check(number_in(0, 1))->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (initialisation, shuffling, dropout)")
      ->check(ember::cli::unsigned_64())->capture_default_str();
  app.add_option("--log-interval", o.log_interval,
                 "Steps between progress lines when output is not a terminal (each shows the mean loss since the "
                 "previous one)")
      ->check(CLI::Range(1, 1 << 30))->capture_default_str();
  app.add_option("--save-model", o.save_model, "Write a safetensors checkpoint here after each epoch (atomically)")
      ->check(CLI::Validator([](std::string& path) { return ember::unwritable_reason(path); }, "PATH"));
  app.add_option("--resume", o.resume,
                 "Resume from a checkpoint written by --save-model; the run continues its optimizer and "
                 "schedule (an --optimizer, --lr, --momentum or --gamma given that differs is refused)")
      ->check(ember::cli::non_empty("the checkpoint path"));
  app.add_option("--limit-train", o.limit_train, "Train on the first N images only (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))->capture_default_str();
  app.add_option("--dataset", o.dataset, "mnist, or fashion (Fashion-MNIST: apt-get install dataset-fashion-mnist)")
      ->check(CLI::IsMember({"mnist", "fashion"}))->capture_default_str();
  app.add_option("--metrics-json", o.metrics_json, "Write per-epoch metrics to this JSON file")
      ->check(CLI::Validator([](std::string& path) { return ember::unwritable_reason(path); }, "PATH"));
  app.add_option("--data-dir", o.data_dir, "Folder with the dataset's IDX files (default: $EMBER_DATA, then data/)")
      ->check(ember::cli::non_empty("the folder name"));
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:<i>")->capture_default_str();
  app.add_flag("--bench", o.bench,
               "Benchmark mode: skip the per-epoch test pass, print each epoch's time and the median, and record "
               "them in the metrics JSON");
  app.add_option("--cuda-graph", o.cuda_graph,
                 "Capture the GPU training step once in a CUDA graph and replay it. auto: wherever valid (one "
                 "process on a GPU, any optimizer), else eager; on: an error where not valid")
      ->check(CLI::IsMember({"auto", "on", "off"}))->capture_default_str();
  app.add_option("--cuda-graph-steps", o.cuda_graph_steps,
                 "Training steps captured back to back in one CUDA graph: one launch (and one copy of their "
                 "batches) serves that many steps")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
  app.add_option("--cudnn-benchmark", o.cudnn_benchmark,
                 "Time every cuDNN convolution algorithm once per shape and keep the fastest (like "
                 "torch.backends.cudnn.benchmark); off: cuDNN's heuristics, the same choice every run")
      ->check(CLI::IsMember({"on", "off"}))->capture_default_str();
  app.add_option("--cudnn-tf32", o.cudnn_tf32,
                 "Let float32 convolutions use TF32 tensor cores (like torch.backends.cudnn.allow_tf32, on by "
                 "default in PyTorch); off: strict FP32")
      ->check(CLI::IsMember({"on", "off"}))->capture_default_str();
  app.add_option("--concurrent-wgrad", o.concurrent_wgrad,
                 "On a GPU, compute each layer's weight gradient on a second stream beside its data gradient "
                 "(inside the CUDA graph too)")
      ->check(CLI::IsMember({"on", "off"}))->capture_default_str();
  app.add_flag("--ddp", o.ddp, "Wrap the model in DistributedDataParallel even at world size 1 (to measure its cost)");
  app.add_option("--backend", o.backend, "Distributed backend when WORLD_SIZE > 1 (default: nccl on GPU, gloo on CPU)")
      ->check(CLI::IsMember({"nccl", "gloo"}));
  app.add_flag("--data-parallel", o.data_parallel, "Single process driving every visible GPU (DataParallel)");
  app.add_flag("--per-rank-batch", o.per_rank_batch,
               "Use --batch-size per rank (global batch = batch-size x world size) instead of splitting it");
  // Bounded: seconds * 1000 becomes an int64 count of milliseconds, and less than 1 ms would be 0.
  app.add_option("--dist-timeout", o.dist_timeout,
                 "Seconds to wait for other ranks before failing, 0.001..604800 (7 days)")
      ->check(number_in(0.001, 604800))->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads, 0..1024 (0: all cores, or $EMBER_NUM_THREADS)")
      ->check(CLI::Range(0, ember::kMaxThreads));
  app.add_flag("--normalize", o.normalize, "Normalise inputs with mean 0.1307, std 0.3081 (the seed uses x/255 only)");
  app.add_flag("--quiet", o.quiet, "Only print the per-epoch summary");
  app.add_option("--profile", o.profile_steps,
                 "Time every kernel of N eager training steps (after 3 warm-up steps; the CUDA graph, if any, is "
                 "captured after them) and print the time per step of each kernel at the end")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))->capture_default_str();
  if (auto exit_code = ember::cli::parse(app, argc, argv, "train_mnist")) return exit_code;
  for (const char* flag : {"--lr", "--momentum", "--optimizer", "--gamma"}) {
    if (app.count(flag) > 0) o.given.insert(flag);
  }
  // The metrics JSON written over a checkpoint (the one saved or the one resumed from) would destroy
  // it; --save-model may equal --resume (a run that continues in place).
  const std::pair<const char*, const std::string*> checkpoints[] = {{"--save-model", &o.save_model},
                                                                    {"--resume", &o.resume}};
  for (const auto& [flag, path] : checkpoints) {
    if (!path->empty() && !o.metrics_json.empty() && same_file(*path, o.metrics_json)) {
      std::fprintf(stderr, "train_mnist: %s and --metrics-json name the same file '%s' (see --help)\n", flag,
                   o.metrics_json.c_str());
      return 2;
    }
  }
  return std::nullopt;
}

namespace {
bool has_dataset(const fs::path& dir) {
  for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"})
    if (fs::exists(dir / name)) return true;
  return false;
}
}  // namespace

std::string find_data_dir(const Options& o, const char* argv0) {
  const std::string sub = o.dataset == "fashion" ? "fashion-mnist" : "mnist";
  if (!o.data_dir.empty()) {
    EMBER_CHECK(fs::is_directory(o.data_dir), "--data-dir '", o.data_dir, "' is not a directory");
    return o.data_dir;
  }
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("EMBER_DATA")) candidates.push_back(fs::path(env) / sub), candidates.push_back(env);
  std::error_code ec;
  fs::path exe = fs::canonical("/proc/self/exe", ec);
  if (ec) exe = fs::absolute(argv0);
  for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path())
    candidates.push_back(dir / "data" / sub);
  candidates.push_back(fs::path(EMBER_SOURCE_DATA_DIR) / sub);
  candidates.push_back(fs::current_path() / "data" / sub);
  if (o.dataset == "fashion") candidates.push_back("/usr/share/datasets/fashion-mnist");
  std::string looked;
  for (const fs::path& c : candidates) {
    if (has_dataset(c)) return c.string();
    looked += " " + c.string();
  }
  EMBER_FAIL("no ", o.dataset, " data found (looked in:", looked, "); pass --data-dir or set EMBER_DATA");
}

}  // namespace train_mnist
