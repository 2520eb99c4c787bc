// How many threads the CPU kernels use: set once for the process (KEYNET_THREADS, or a call), read by
// every threaded kernel. Part of the kernel API (kernels/ops.h includes it), kept here so that the
// backends read it without including ops.h.
#pragma once
#include <cstdint>

namespace keynet {

// Threads for the fast CPU path: KEYNET_THREADS when set, else the number of cores.
int cpu_threads();
void set_cpu_threads(int threads);

namespace cpu {
// Elementwise loops below this size run on one thread: starting a team costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;
inline int threads_for(int64_t work) { return work < kParallelGrain ? 1 : cpu_threads(); }
}  // namespace cpu

}  // namespace keynet
