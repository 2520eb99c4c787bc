// keynet::Error: every failure a user can cause (bad shapes, bad files, CUDA out of memory) throws
// this, with the source location and a sentence that says what to do about it.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace keynet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace keynet

// KEYNET_CHECK(cond, "conv1: expected ", c, " channels, got ", shape) throws keynet::Error.
#define KEYNET_CHECK(cond, ...)                                                              \
  do {                                                                                       \
    if (!(cond)) ::keynet::detail::throw_error(__FILE__, __LINE__, ::keynet::detail::concat(__VA_ARGS__)); \
  } while (0)

#define KEYNET_FAIL(...) ::keynet::detail::throw_error(__FILE__, __LINE__, ::keynet::detail::concat(__VA_ARGS__))
