// train_mnist: trains the classic MNIST Net with Ember. See --help, and README.md for examples.
#include <csignal>
#include <cstdio>
#include <exception>

#include "options.h"
#include "trainer.h"

namespace {
void on_signal(int) { train_mnist::stop_requested = true; }
}  // namespace

int main(int argc, char** argv) {
  train_mnist::Options options;
  if (auto exit_code = train_mnist::parse_options(argc, argv, options)) return *exit_code;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return train_mnist::run_training(options, argv[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_mnist: error: %s\n", e.what());
    return 1;
  }
}
