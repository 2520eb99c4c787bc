// KEYNET_REQUIRE_GPU=1: the environment promises a usable CUDA device (scripts/gpu-check.sh sets it on
// the lent GPU machine), so a GPU suite or the parity suite's CUDA rows that would be skipped fail instead.
#pragma once
#include <cstdlib>
#include <string>

namespace keynet::test {

inline constexpr const char* kRequireGpuVariable = "KEYNET_REQUIRE_GPU";

inline bool gpu_required() {
  const char* value = std::getenv(kRequireGpuVariable);
  return value != nullptr && std::string(value) == "1";
}

}  // namespace keynet::test
