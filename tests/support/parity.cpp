// The parity suites' tolerance rule and comparison (see parity.h for the formula).
#include "support/parity.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

namespace keynet::parity {

double tolerance(double factor, double K, double scale) { return factor * kU * std::sqrt(std::max(K, 1.0)) * scale; }

namespace {

// Both NaN, or the same infinity.
bool same_nonfinite(double got, double want) { return std::isnan(want) ? std::isnan(got) : got == want; }

Comparison compare_values(const std::vector<double>& got, const std::vector<double>& want, double K, double factor,
                          const std::vector<double>& allowance, bool nonfinite_expected) {
  Comparison c;
  std::ostringstream problem;
  problem.precision(9);
  if (got.size() != want.size() || (!allowance.empty() && allowance.size() != want.size())) {
    c.ok = false;
    c.ratio = std::numeric_limits<double>::infinity();
    problem << got.size() << " elements, expected " << want.size();
    c.problem = problem.str();
    return c;
  }
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (nonfinite_expected && !std::isfinite(want[i]) && same_nonfinite(got[i], want[i])) continue;
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) {
      c.ok = false;
      c.ratio = std::numeric_limits<double>::infinity();
      problem << "non-finite at element " << i << ": got " << got[i] << ", want " << want[i];
      c.problem = problem.str();
      return c;
    }
    c.scale = std::max(c.scale, std::abs(want[i]));
  }
  c.tolerance = tolerance(factor, K, c.scale);
  std::size_t worst_at = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(want[i])) continue;  // matched above
    const double error = std::abs(got[i] - want[i]);
    if (error == 0) continue;
    const double limit = c.tolerance + (allowance.empty() ? 0.0 : allowance[i]);
    const double ratio = limit > 0 ? error / limit : std::numeric_limits<double>::infinity();
    if (ratio > c.ratio) {
      c.ratio = ratio;
      worst_at = i;
    }
  }
  if (c.ratio > 1) {
    c.ok = false;
    problem << "element " << worst_at << ": got " << got[worst_at] << ", want " << want[worst_at] << ", |error| "
            << std::abs(got[worst_at] - want[worst_at]) << " > tolerance " << c.tolerance;
    if (!allowance.empty()) problem << " + allowance " << allowance[worst_at];
    problem << " (scale " << c.scale << ", K " << K << ", factor " << factor << ")";
    c.problem = problem.str();
  }
  return c;
}

}  // namespace

Comparison compare(const std::vector<double>& got, const std::vector<double>& want, double K, double factor,
                   const std::vector<double>& allowance) {
  return compare_values(got, want, K, factor, allowance, false);
}

Comparison compare_nonfinite(const std::vector<double>& got, const std::vector<double>& want, double K,
                             double factor) {
  return compare_values(got, want, K, factor, {}, true);
}

std::vector<double> host_values(const Tensor& t) { return t.to(Device::CPU).to_double_vector(); }

Comparison compare(const Tensor& got, const Tensor& want, double K, double factor) {
  if (got.shape() != want.shape()) {
    Comparison c;
    c.ok = false;
    c.ratio = std::numeric_limits<double>::infinity();
    c.problem = "shape " + to_string(got.shape()) + ", expected " + to_string(want.shape());
    return c;
  }
  return compare(host_values(got), host_values(want), K, factor);
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.to(Device::CPU), y = b.to(Device::CPU);
  return std::memcmp(x.raw(), y.raw(), x.bytes()) == 0;
}

}  // namespace keynet::parity
