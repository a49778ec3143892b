// The CPU thread pool that Ember's CPU kernels share (default: every core, or $EMBER_NUM_THREADS).
#pragma once

namespace ember {
void set_num_threads(int threads);
int get_num_threads();
}  // namespace ember
