// The training run behind train_mnist: data, model, optimizer, (distributed) loop, evaluation,
// checkpoints and metrics. main.cpp only parses flags and reports errors.
#pragma once
#include <atomic>

#include "options.h"

namespace train_mnist {

// Set by SIGINT/SIGTERM: the loop finishes its step, and the run stops cleanly.
extern std::atomic<bool> stop_requested;

// Returns the process exit code (0, or 130 when interrupted).
int run_training(const Options& options, const char* argv0);

}  // namespace train_mnist
