// The message of the keynet::Error an action throws, or "" if it throws none.
#pragma once
#include <functional>
#include <string>

#include "tensor/error.h"

namespace keynet::testing {

inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace keynet::testing
