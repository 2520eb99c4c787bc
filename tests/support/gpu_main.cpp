// Main of the GPU suites: without a CUDA device they print why and exit 77, which CTest reports as skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "tensor/cuda_memory.h"

int main(int argc, char** argv) {
  if (!keynet::cuda_memory::device_available()) {
    std::cout << "SKIPPED: no CUDA device visible; GPU tests need one\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
