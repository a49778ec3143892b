// The training run behind train_mnist: data, model, optimizer, (distributed) loop, evaluation,
// checkpoints and metrics. main.cpp only parses flags and reports errors.
#pragma once
#include "options.h"

namespace train_mnist {

// Returns the process exit code (0, or 130 when SIGINT/SIGTERM stopped training: the step in
// flight finishes, the run stops cleanly).
int run_training(const Options& options, const char* argv0);

}  // namespace train_mnist
