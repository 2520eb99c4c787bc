// Replays every saved fuzz input (fuzz/corpus/<target>/, from the fixtures and from fuzzing runs) and
// every crash file the fuzzer ever found (fuzz/crashes/<target>/, each fixed since) through the readers:
// each must be read or refused with keynet::Error, never crash or throw anything else. Each corpus
// holds both files the reader accepts and files it refuses, so both paths run (a reader that never
// refuses, like the EXIF reader, must indeed refuse none).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/targets.h"

namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("every saved fuzz input is read or refused with a clear error, for every reader") {
  const fs::path root = fs::path(KEYNET_SOURCE_DIR) / "fuzz";
  for (const keynet::fuzz::Target& target : keynet::fuzz::targets()) {
    int accepted = 0, refused = 0;
    for (const char* kind : {"corpus", "crashes"}) {
      const fs::path dir = root / kind / target.name;
      if (!fs::exists(dir)) continue;
      for (const fs::directory_entry& file : fs::directory_iterator(dir)) {
        const std::vector<uint8_t> data = bytes_of(file.path());
        INFO(file.path().string());
        bool read = false;
        CHECK_NOTHROW(read = keynet::fuzz::run_one(target, data.data(), data.size()));
        (read ? accepted : refused)++;
      }
    }
    const std::string name = target.name;
    MESSAGE(name, ": ", accepted, " inputs read, ", refused, " refused");
    CHECK_MESSAGE(accepted > 0, name, ": no saved input that the reader accepts");
    if (target.refuses)
      CHECK_MESSAGE(refused > 0, name, ": no saved input that the reader refuses");
    else
      CHECK_MESSAGE(refused == 0, name, ": refused an input, but this reader should ignore what it cannot use");
  }
}
