// Main of the GPU suites: without a CUDA device (or driver) they print why and exit 77, which CTest
// reports as skipped; a device query that fails for another reason fails the suite.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "tensor/cuda_memory.h"

int main(int argc, char** argv) {
  const std::string failure = keynet::cuda_memory::device_query_failure();
  if (!failure.empty()) {  // a device that is there but cannot be reached is a failure, not a skip
    std::cout << "FAILED: the CUDA device query failed: " << failure << "\n";
    return 1;
  }
  if (!keynet::cuda_memory::device_available()) {
    std::cout << "SKIPPED: no CUDA device visible; GPU tests need one\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
