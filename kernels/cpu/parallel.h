// parallel_for over [0, n) on the CPU using OpenMP-free std::threads would cost a spawn per call;
// Ember keeps a small persistent pool instead (kernels/cpu/thread_pool.cpp). Grain size keeps
// tiny loops on the calling thread, where a hand-off would cost more than the work.
#pragma once
#include <cstdint>
#include <functional>

namespace ember::kernels::cpu {

// Calls fn(begin, end) on disjoint chunks covering [0, n), on up to num_threads() threads.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
int num_threads();
void set_num_threads(int n);

}  // namespace ember::kernels::cpu
