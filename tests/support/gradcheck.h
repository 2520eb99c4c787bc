// Finite-difference gradient checking in double (after Caffe's GradientChecker and dlib's test_layer).
//
// The objective is L = <y, R> for a fixed random R, so a transposed or permuted gradient is caught
// (sum(y) would miss it). Every element of every variable is perturbed by +-eps and the central
// difference (L(x+eps) - L(x-eps)) / 2eps is compared with the analytic gradient:
//   |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|, 1)
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "layers/module.h"

namespace keynet::testing {

struct GradCheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  uint64_t seed = 1234;  // for R and for sampling elements
  // 0 checks every element; otherwise this many elements per variable, sampled without replacement
  // (for networks whose full check would take minutes).
  int64_t max_checks_per_variable = 0;
};

struct GradCheckReport {
  int checked = 0;
  int failed = 0;
  double max_error = 0;  // largest |analytic - numeric| / (atol + rtol * scale), 1 = at tolerance
  std::string worst;     // "weight[17]: analytic 0.1234 numeric 0.1236"
  bool passed() const { return failed == 0 && checked > 0; }
  std::string summary() const;
};

struct Variable {
  std::string name;
  Tensor value;  // F64 CPU; perturbed in place (shares storage with the module's tensor)
};

// forward(): the output for the current variable values. analytic(R): the gradients of <y, R>, one
// per variable, in order.
GradCheckReport check_gradients(const std::vector<Variable>& variables, const std::function<Tensor()>& forward,
                                const std::function<std::vector<Tensor>(const Tensor& R)>& analytic,
                                const GradCheckOptions& options = {});

// A whole module: the variables are the input x and every parameter; the module must already be in
// double (to_dtype(module, DType::F64)).
GradCheckReport check_module_gradients(Module& module, const Tensor& x, Mode mode, const GradCheckOptions& options = {});

// Random double tensors whose elements are all at least `gap` apart and away from zero, so that ReLU
// kinks and max-pool ties stay further away than the finite-difference step.
Tensor distinct_values(const Shape& shape, Rng& rng, double gap = 1e-2);

}  // namespace keynet::testing
