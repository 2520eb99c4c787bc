// libFuzzer's entry point for one reader, chosen at compile time (KEYNET_FUZZ_TARGET, e.g. "asf");
// CMake builds one binary per target when KEYNET_FUZZ is on (scripts/fuzz.sh).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const keynet::fuzz::Target& reader = keynet::fuzz::target(KEYNET_FUZZ_TARGET);
  keynet::fuzz::run_one(reader, data, size);
  return 0;
}
