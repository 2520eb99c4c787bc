// The readers of outside input as fuzz targets: each takes arbitrary bytes as the content of a file of
// its kind and must either read it or refuse it with keynet::Error (a clear message). Anything else (a
// crash, a sanitizer finding, another exception type) is a bug. libFuzzer drives them
// (fuzz/fuzz_target.cpp, scripts/fuzz.sh); tests/test_fuzz_corpora.cpp replays the saved corpora and
// every crash file through the same functions in the default suite.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace keynet::fuzz {

struct Target {
  const char* name;       // also the folder under fuzz/corpus/ and fuzz/crashes/
  const char* file_name;  // the file the bytes become (IMM's reader wants names like 01-1m.asf)
  void (*read)(const std::string& path);
  // False for a reader that ignores what it cannot use instead of refusing it (EXIF: a photo is never
  // refused for its metadata), so its corpus holds no refused input.
  bool refuses = true;
};

const std::vector<Target>& targets();
const Target& target(const std::string& name);

// Writes the bytes to a scratch file of the target's kind and reads it. Returns true when the reader
// accepted the file, false when it refused it with keynet::Error; any other outcome escapes.
bool run_one(const Target& target, const uint8_t* data, size_t size);

}  // namespace keynet::fuzz
