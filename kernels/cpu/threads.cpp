// The CPU kernels' thread count (kernels/cpu/threads.h).
#include "kernels/cpu/threads.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>

#include "tensor/error.h"

namespace keynet {

namespace {
int initial_threads() {
  const char* env = std::getenv("KEYNET_THREADS");
  if (env && *env) {
    const int threads = std::atoi(env);
    KEYNET_CHECK(threads > 0, "KEYNET_THREADS must be a positive integer, got '", env, "'");
    return threads;
  }
  return omp_get_num_procs();
}
std::atomic<int>& threads_slot() {
  static std::atomic<int> slot{initial_threads()};
  return slot;
}
}  // namespace

int cpu_threads() { return threads_slot().load(); }
void set_cpu_threads(int threads) {
  KEYNET_CHECK(threads > 0, "thread count must be positive, got ", threads);
  threads_slot().store(threads);
}

}  // namespace keynet
