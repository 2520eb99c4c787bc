// The datasets in ../shared/data (KEYNET_SHARED_DATA_DIR) for the tests that read them. A missing
// dataset fails the test, so a suite never passes without checking what it claims to; on a machine
// without the datasets, KEYNET_ALLOW_MISSING_DATA=1 turns each such failure into a skip with a message.
#pragma once
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace keynet::testing {

// "imm_face_db" -> "<source dir>/../shared/data/imm_face_db"
inline std::string shared_data_path(const std::string& sub) {
  return (std::filesystem::path(KEYNET_SHARED_DATA_DIR) / sub).string();
}

// True when the dataset file or folder `sub` exists. Otherwise the test fails naming the missing path,
// or, with KEYNET_ALLOW_MISSING_DATA=1, says it is skipped and the caller returns.
inline bool shared_data_available(const std::string& sub) {
  const std::string path = shared_data_path(sub);
  if (std::filesystem::exists(path)) return true;
  const char* allow_missing = std::getenv("KEYNET_ALLOW_MISSING_DATA");
  if (allow_missing != nullptr && std::string(allow_missing) == "1") {
    MESSAGE("skipped: " << path << " missing (KEYNET_ALLOW_MISSING_DATA=1)");
    return false;
  }
  FAIL("shared data missing: " << path << " (set KEYNET_ALLOW_MISSING_DATA=1 to skip the tests that need it)");
  return false;
}

}  // namespace keynet::testing
