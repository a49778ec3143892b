// The CPU thread pool that Ember's CPU kernels share (default: every core, or $EMBER_NUM_THREADS).
#pragma once

namespace ember {

// The most CPU threads the pool takes: set_num_threads and $EMBER_NUM_THREADS refuse more. A
// count that cannot be started (a process or memory limit) is an ember::Error, not an abort.
inline constexpr int kMaxThreads = 1024;

// Sets the pool's size (clamped below at 1; above kMaxThreads an error).
void set_num_threads(int threads);
// The pool's size: made on first use, from $EMBER_NUM_THREADS when set (a whole number 1..kMaxThreads,
// else an error naming the variable; empty counts as unset) or from the number of cores.
int get_num_threads();

}  // namespace ember
