// Shared by the GPU suites: comparison of a result against an oracle with a printed report, and the
// table of the largest error seen per (op, impl), printed at the end of the run.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernels/ops.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace keynet::gpu_test {

// Line-buffered stdout, set before main: every report line reaches the log even if a GPU fault kills
// the process.
inline const bool stdout_line_buffered = std::setvbuf(stdout, nullptr, _IOLBF, 0) == 0;

// The implementations a CUDA build can run: Vendor only where cuDNN/cuBLAS were built.
inline std::vector<Impl> cuda_impls() {
#ifdef KEYNET_WITH_CUDNN
  return {Impl::Ref, Impl::Fast, Impl::Vendor};
#else
  return {Impl::Ref, Impl::Fast};
#endif
}

inline std::map<std::pair<std::string, std::string>, double>& worst_errors() {
  static std::map<std::pair<std::string, std::string>, double> table;
  return table;
}

// Error of `got` (any device, F32) against `want` (any device, F32 or F64): the largest absolute
// difference divided by the largest magnitude in `want`, so that one tolerance serves tensors of any
// scale and entries near zero after cancellation are not over-weighted. Any NaN or Inf, in `got` or in
// `want`, is a failure whatever the tolerance (an oracle that gives NaN must not let an all-NaN result
// pass). Prints one line per comparison; returns the error.
inline double compare(const std::string& op, Impl impl, const std::string& shape, const Tensor& got,
                      const Tensor& want, double tolerance) {
  REQUIRE(got.shape() == want.shape());
  std::vector<double> a, b;
  try {  // an asynchronous fault of the kernel under test surfaces here, at the copy back
    a = got.to(Device::CPU).to_double_vector();
    b = want.to(Device::CPU).to_double_vector();
  } catch (const std::exception& e) {
    std::printf("FAIL     %-30s %-6s CUDA error reading the result back: %s  %s\n", op.c_str(), to_string(impl),
                e.what(), shape.c_str());
    std::fflush(stdout);
    FAIL(op, " impl=", to_string(impl), " ", shape, ": ", e.what());
  }
  double scale = 0.0, worst = 0.0;
  long worst_index = -1, nonfinite = 0;
  for (double v : b)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  scale = std::max(scale, 1e-30);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      ++nonfinite;
      continue;
    }
    const double e = std::abs(a[i] - b[i]) / scale;
    if (e > worst) {
      worst = e;
      worst_index = static_cast<long>(i);
    }
  }
  const double error = nonfinite ? INFINITY : worst;
  auto& slot = worst_errors()[{op, to_string(impl)}];
  slot = std::max(slot, error);
  std::printf("%-8s %-30s %-6s max_err=%.3e tol=%.0e scale=%.3e nonfinite=%ld worst_at=%ld (got %.8g want %.8g)  %s\n",
              error <= tolerance ? "ok" : "FAIL", op.c_str(), to_string(impl), worst, tolerance, scale, nonfinite,
              worst_index, worst_index >= 0 ? a[worst_index] : 0.0, worst_index >= 0 ? b[worst_index] : 0.0,
              shape.c_str());
  std::fflush(stdout);
  INFO(op, " impl=", to_string(impl), " ", shape, ": max_err ", worst, " (tolerance ", tolerance, "), ", nonfinite,
       " NaN/Inf");
  CHECK(nonfinite == 0);
  CHECK(worst <= tolerance);
  return error;
}

// Runs fn; an exception (a vendor library refusing a shape, a failed launch) is reported as a failure
// of this (op, impl, shape) and the loop over shapes and impls goes on.
template <class Fn>
void guarded(const std::string& what, Impl impl, const std::string& shape, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::printf("FAIL     %-30s %-6s threw: %s  %s\n", what.c_str(), to_string(impl), e.what(), shape.c_str());
    std::fflush(stdout);
    FAIL_CHECK(what, " impl=", to_string(impl), " ", shape, " threw: ", e.what());
  }
}

// Bitwise equality of two runs of the same computation.
inline bool bitwise_equal(const Tensor& x, const Tensor& y) {
  const std::vector<float> a = x.to(Device::CPU).to_float_vector();
  const std::vector<float> b = y.to(Device::CPU).to_float_vector();
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](float p, float q) {
           return std::memcmp(&p, &q, sizeof(float)) == 0;
         });
}

inline Tensor filled(const Shape& shape, double value, Device device) {
  return Tensor::full(shape, value).to(device);
}

inline void print_worst_errors() {
  std::printf("\n| op | impl | largest error |\n|---|---|---|\n");
  for (const auto& [key, error] : worst_errors()) {
    std::printf("| %s | %s | %.3e |\n", key.first.c_str(), key.second.c_str(), error);
    MESSAGE(key.first, " impl=", key.second, ": largest error ", error);
  }
}

}  // namespace keynet::gpu_test
