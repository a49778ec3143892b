// train_mnist: trains the classic MNIST Net with Ember. See --help, and README.md for examples.
#include <cstdio>
#include <exception>

#include <ember/dist/env.h>

#include "options.h"
#include "trainer.h"

int main(int argc, char** argv) {
  train_mnist::Options options;
  if (auto exit_code = train_mnist::parse_options(argc, argv, options)) return *exit_code;
  try {
    return train_mnist::run_training(options, argv[0]);
  } catch (const train_mnist::FlagError& e) {
    std::fprintf(stderr, "train_mnist: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_mnist: error: %s\n", e.what());
    ember::dist::write_error_file(e);  // under ember-run: when and why, so it can name the rank that failed first
    return 1;
  }
}
