#include "support/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "layers/param_visitor.h"

namespace keynet::testing {

std::string GradCheckReport::summary() const {
  std::ostringstream out;
  out << checked << " gradients checked, " << failed << " failed, worst " << max_error << "x tolerance";
  if (!worst.empty()) out << " at " << worst;
  return out.str();
}

namespace {
double inner_product(const Tensor& y, const Tensor& R) {
  const double* a = y.data<double>();
  const double* b = R.data<double>();
  double sum = 0;
  for (int64_t i = 0; i < y.numel(); ++i) sum += a[i] * b[i];
  return sum;
}
}  // namespace

GradCheckReport check_gradients(const std::vector<Variable>& variables, const std::function<Tensor()>& forward,
                                const std::function<std::vector<Tensor>(const Tensor& R)>& analytic,
                                const GradCheckOptions& options) {
  for (const Variable& v : variables)
    KEYNET_CHECK(v.value.is_cpu() && v.value.dtype() == DType::F64, "gradient check: variable ", v.name,
                 " must be a float64 CPU tensor, got ", v.value.describe());
  const Tensor y0 = forward();
  Rng rng(options.seed);
  const Tensor R = Tensor::normal(y0.shape(), rng, 0.0, 1.0, DType::F64);
  const std::vector<Tensor> gradients = analytic(R);
  KEYNET_CHECK(gradients.size() == variables.size(), "gradient check: ", gradients.size(), " gradients for ",
               variables.size(), " variables");

  GradCheckReport report;
  for (std::size_t k = 0; k < variables.size(); ++k) {
    Tensor value = variables[k].value;
    const Tensor& gradient = gradients[k];
    KEYNET_CHECK(gradient.defined() && gradient.shape() == value.shape(), "gradient check: gradient of ",
                 variables[k].name, " has shape ", gradient.defined() ? to_string(gradient.shape()) : "(none)",
                 ", expected ", to_string(value.shape()));
    const Tensor g = gradient.to(DType::F64);
    double* x = value.data<double>();
    std::vector<int64_t> indices(value.numel());
    std::iota(indices.begin(), indices.end(), 0);
    if (options.max_checks_per_variable > 0 && value.numel() > options.max_checks_per_variable) {
      for (int64_t i = 0; i < options.max_checks_per_variable; ++i)
        std::swap(indices[i], indices[i + rng.below(indices.size() - i)]);
      indices.resize(options.max_checks_per_variable);
    }
    for (const int64_t i : indices) {
      const double saved = x[i];
      x[i] = saved + options.eps;
      const double plus = inner_product(forward(), R);
      x[i] = saved - options.eps;
      const double minus = inner_product(forward(), R);
      x[i] = saved;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double exact = g.data<double>()[i];
      const double scale = std::max({std::abs(exact), std::abs(numeric), 1.0});
      const double error = std::abs(exact - numeric) / (options.atol + options.rtol * scale);
      ++report.checked;
      if (error > 1.0) ++report.failed;
      if (error > report.max_error) {
        report.max_error = error;
        std::ostringstream where;
        where << variables[k].name << "[" << i << "]: analytic " << exact << " numeric " << numeric;
        report.worst = where.str();
      }
    }
  }
  return report;
}

GradCheckReport check_module_gradients(Module& module, const Tensor& x, Mode mode, const GradCheckOptions& options) {
  std::vector<Variable> variables{{"input", x}};
  std::vector<Parameter*> parameters;
  for (auto& [name, p] : named_parameters(module)) {
    variables.push_back({name, p->value});
    parameters.push_back(p);
  }
  auto forward = [&]() { return module.forward(x, mode); };
  auto analytic = [&](const Tensor& R) {
    zero_grad(module);
    module.forward(x, mode);
    std::vector<Tensor> result{module.backward(R)};
    for (Parameter* p : parameters) result.push_back(p->grad.clone());
    return result;
  };
  return check_gradients(variables, forward, analytic, options);
}

Tensor distinct_values(const Shape& shape, Rng& rng, double gap) {
  const int64_t n = numel(shape);
  std::vector<double> values(n);
  // Symmetric around zero, skipping zero itself: +-gap, +-2gap, ... then shuffled.
  for (int64_t i = 0; i < n; ++i) values[i] = (i / 2 + 1) * gap * (i % 2 ? -1.0 : 1.0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(values[i], values[rng.below(i + 1)]);
  const double spread = std::max(1.0, (n / 2 + 1) * gap);
  for (double& v : values) v /= spread;  // stays in [-1, 1], now at least gap / spread apart
  return Tensor::from_vector(shape, values);
}

}  // namespace keynet::testing
