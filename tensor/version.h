// keynet's version and the source commit a build was made from, for --version and model files.
#pragma once

#include <string>

namespace keynet {

// CMake's project version, e.g. "0.9.0".
const char* version();
// The git commit the library was built from, recorded at build time by cmake/build_info.cmake:
// 12 hex digits, with "-dirty" when tracked files differed from it; "unknown" outside a git checkout.
const char* build_commit();
// "PROGRAM (keynet VERSION, commit COMMIT)": what every app's --version prints.
std::string version_line(const std::string& program);

}  // namespace keynet
