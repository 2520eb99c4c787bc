// The one tolerance rule of the parity suites (tests/test_parity.cpp, tests/gpu/test_resnet_step.cpp):
// a float32 result `got` against the CPU reference run in double, `want`, tensor by tensor.
//
//   |got_i - want_i| <= factor * u * sqrt(K_i) * scale      for every element i
//
//   scale   max|want| over the tensor: the tensor's own magnitude, so elements near zero after
//           cancellation are not over-weighted and a tensor of scale 1e-6 gets a tolerance of that size.
//           An all-zero expected tensor must be matched exactly (tolerance 0, no floor: every op in the
//           suite produces exact zeros wherever the reference does).
//   u       kRoundoffs * 2^-24 (float32's unit roundoff times one calibrated constant).
//   K_i     the length of the reduction behind element i (conv forward C*R*S, linear forward I, batch
//           norm N*HW, an elementwise op 1, ...): rounding errors of a float32 sum grow like sqrt(K).
//   factor  1, raised per (op, Impl) only where an algorithm needs it, each with its reason
//           (tests/test_parity.cpp, factor()).
//
// NaN or Inf on either side fails whatever the tolerance (an all-NaN result against a NaN oracle
// fails too), except in compare_nonfinite(), for results that are meant to hold them.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace keynet::parity {

constexpr double kUnitRoundoff = 0x1p-24;  // float32
// Calibrated on the CPU rows (reference and fast kernels in float32 against the reference in double):
// the worst of them came to 3 units of 2^-24 * sqrt(K) * scale (Adam after 5 steps); 8 leaves margin.
constexpr double kRoundoffs = 8.0;
constexpr double kU = kRoundoffs * kUnitRoundoff;

struct Comparison {
  bool ok = true;
  double ratio = 0;      // largest |got - want| / tolerance; 0 when equal, infinity when non-finite
  double scale = 0;      // max|want|
  double tolerance = 0;  // factor * u * sqrt(K) * scale
  std::string problem;   // the first reason it failed, with the element; "" when ok
};

double tolerance(double factor, double K, double scale);

// got and want hold the same number of elements; K is the reduction length of every element. allowance,
// when given, adds a per-element amount the caller derives and states (tests/gpu/test_resnet_step.cpp:
// how far Adam's first update may move when its gradient moves within the gradient's tolerance).
Comparison compare(const std::vector<double>& got, const std::vector<double>& want, double K, double factor,
                   const std::vector<double>& allowance = {});
// compare() for results of inputs with NaN or Inf planted in them: where want is NaN, got must be NaN; where
// want is +-Inf, got must be the same infinity; a NaN or Inf anywhere else fails. The finite elements are
// held to the rule above, with the scale taken over them.
Comparison compare_nonfinite(const std::vector<double>& got, const std::vector<double>& want, double K,
                             double factor);
// Tensors on any device, float32 or float64 (copied to the host; a GPU fault surfaces here as a throw).
Comparison compare(const Tensor& got, const Tensor& want, double K, double factor);

// The tensor's values in double, on the host.
std::vector<double> host_values(const Tensor& t);

// Bitwise equality of two runs of the same computation (any devices).
bool bitwise_equal(const Tensor& a, const Tensor& b);

}  // namespace keynet::parity
