// train_mnist's command line: flags in the style of pytorch/examples' mnist, parsed with CLI11.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

namespace train_mnist {

struct Options {
  int64_t batch_size = 100;
  int64_t test_batch_size = 1000;
  int epochs = 5;
  double lr = 0.01;
  double momentum = 0.0;
  std::string optimizer = "sgd";
  double gamma = 1.0;
  uint64_t seed = 1;
  int log_interval = 100;
  std::string save_model;
  std::string resume;
  int64_t limit_train = 0;  // 0: the whole training set
  std::string dataset = "mnist";
  std::string metrics_json;
  std::string data_dir;
  std::string device = "auto";
  bool bench = false;
  bool ddp = false;
  std::string cuda_graph = "auto";  // auto: capture the GPU step wherever that is valid
  int64_t cuda_graph_steps = 10;    // training steps per graph replay
  std::string cudnn_benchmark = "on";  // time cuDNN's algorithms once per shape, keep the fastest
  std::string cudnn_tf32 = "off";      // float32 convolutions may use TF32 tensor cores
  std::string concurrent_wgrad = "off";  // weight gradients on a second stream
  std::string backend;  // "" -> nccl on GPU, gloo on CPU
  bool data_parallel = false;
  bool per_rank_batch = false;
  double dist_timeout = 300.0;
  int threads = 0;  // 0: all cores
  bool normalize = false;
  bool quiet = false;
  int64_t profile_steps = 0;  // --profile: time every kernel of this many eager steps
  // The optimizer flags given on the command line (--lr, --momentum, --optimizer, --gamma), not left
  // at their defaults: a --resume run continues the checkpoint's settings and refuses a given flag
  // that differs from them.
  std::set<std::string> given;
};

// A setting that contradicts another (or a checkpoint) found after parsing: main prints it as one
// line, as CLI11's errors, and exits 2.
struct FlagError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses argv; prints help/errors and returns the exit code to use when the program should stop.
std::optional<int> parse_options(int argc, char** argv, Options& options);

// The data directory: --data-dir, then $EMBER_DATA, then data/ next to the binary or in the source tree.
// Returns the folder that holds the dataset's four files; throws with the places it looked.
std::string find_data_dir(const Options& options, const char* argv0);

}  // namespace train_mnist
