// Main of the GPU suites: without a CUDA device (or driver) they print why and exit 77, which CTest
// reports as skipped; a device query that fails for another reason fails the suite. Where a GPU is
// promised (scripts/gpu-check.sh on the lent machine sets KEYNET_REQUIRE_GPU=1), no usable device is a
// failure naming the reason, so that a run which tested nothing cannot read as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "support/require_gpu.h"
#include "tensor/cuda_memory.h"

int main(int argc, char** argv) {
  const std::string failure = keynet::cuda_memory::device_query_failure();
  if (!failure.empty()) {  // a device that is there but cannot be reached is a failure, not a skip
    std::cout << "FAILED: the CUDA device query failed: " << failure << "\n";
    return 1;
  }
  if (!keynet::cuda_memory::device_available()) {
    if (keynet::test::gpu_required()) {
      std::cout << "FAILED: " << keynet::test::kRequireGpuVariable
                << "=1 but no CUDA device is visible (no device, no driver, or CUDA_VISIBLE_DEVICES hides it)\n";
      return 1;
    }
    std::cout << "SKIPPED: no CUDA device visible; GPU tests need one\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
