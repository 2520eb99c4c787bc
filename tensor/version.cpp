// The --version line; version() and build_commit() are generated at build time (cmake/build_info.cmake).
#include "tensor/version.h"

namespace keynet {

std::string version_line(const std::string& program) {
  return program + " (keynet " + version() + ", commit " + build_commit() + ")";
}

}  // namespace keynet
