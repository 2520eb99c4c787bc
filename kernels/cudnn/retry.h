// When a cuDNN or cuBLAS call may run a second time after it ran out of device memory: only when
// running it twice cannot change the result. A call that adds into its output (beta != 0: the weight
// and bias gradients, a bias added to a product) or updates state (batch norm's running statistics)
// may have done part of its work before failing, so it is never retried. Kept apart from the CUDA
// headers so that the rule is tested on any machine (tests/test_device_memory.cpp).
#pragma once
#include <exception>
#include <string>

namespace keynet::cudnn {

// Runs call(); when its status says out of memory and `beta` is null (the call writes no tensor: a
// handle, an algorithm search) or points to zero (the call overwrites its output), gives keynet's
// cache of device blocks back with release_cache() and runs call() once more. Otherwise, or when
// giving the cache back fails, returns the first status, and `note` says why it was not retried.
template <class Status, class Call, class OutOfMemory, class ReleaseCache>
Status retry_out_of_memory(const float* beta, Call&& call, OutOfMemory&& out_of_memory, ReleaseCache&& release_cache,
                           std::string& note) {
  const Status status = call();
  if (!out_of_memory(status)) return status;
  if (beta && *beta != 0.0f) {
    note = " (out of device memory; not retried: the call adds into its output, so a second run could add twice)";
    return status;
  }
  try {
    release_cache();
  } catch (const std::exception& error) {
    note = std::string(" (out of device memory; giving keynet's cached blocks back failed: ") + error.what() + ")";
    return status;
  }
  return call();
}

}  // namespace keynet::cudnn
