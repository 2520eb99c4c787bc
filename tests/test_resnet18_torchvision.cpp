// ResNet18's wiring against torchvision's: every parameter and buffer of both networks is set by the
// same formula (tests/fixtures/generators/make_resnet18_formula_reference.py computes it in PyTorch),
// so the recorded outputs pin the forward pass, strides, projections and pooling included. Names,
// shapes and parameter counts alone would not notice a stage that loses its stride.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "layers/resnet.h"
#include "test_data_support.h"

using namespace keynet;

namespace {

// The generator's formula for the k-th tensor (names sorted) called `name`.
void set_by_formula(Tensor& tensor, const std::string& name, int k) {
  const Shape shape = tensor.shape();
  const int64_t n = tensor.numel();
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) {
    const double base = std::sin(0.37 * static_cast<double>(i) + 1.3 * k);
    double v;
    if (ends_with("running_var")) v = 1 + 0.5 * base * base;
    else if (ends_with("running_mean")) v = 0.1 * base;
    else if (shape.size() == 1 && ends_with(".weight")) v = 1 + 0.1 * base;
    else if (shape.size() == 1) v = 0.05 * base;
    else v = base * std::sqrt(2.0 / static_cast<double>(n / shape[0]));
    values[i] = static_cast<float>(v);
  }
  tensor = Tensor::from_vector(shape, values);
}

// Every parameter and buffer of `net` by the formula, k counting the tensors in name order as the generator
// does; returns how many were set.
int set_all_by_formula(ResNet18& net) {
  std::map<std::string, Tensor*> tensors;  // sorted by name, as the generator sorts them
  for (auto& [name, parameter] : named_parameters(net)) tensors[name] = &parameter->value;
  for (auto& [name, buffer] : named_buffers(net)) tensors[name] = buffer;
  int k = 0;
  for (auto& [name, tensor] : tensors) set_by_formula(*tensor, name, k++);
  return k;
}

// The generator's input, (2, 1, 64, 64).
Tensor formula_input() {
  std::vector<float> input(2 * 64 * 64);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(0.5 * std::sin(0.05 * static_cast<double>(i)));
  return Tensor::from_vector({2, 1, 64, 64}, input);
}

}  // namespace

TEST_CASE("ResNet18 with weights by formula gives torchvision's outputs (eval mode, every CPU implementation)") {
  const nlohmann::json reference =
      nlohmann::json::parse(keynet::data::testing::read_text(keynet::data::testing::fixture("resnet18_formula_outputs.json")));
  Rng rng(1);
  ResNet18 net(1, 4, rng);
  REQUIRE(set_all_by_formula(net) == 102);  // torchvision's float tensors of resnet18: 62 parameters, 20 BatchNorms' mean and variance
  const Tensor x = formula_input();
  const std::vector<double> want = reference["eval"].get<std::vector<double>>();
  for (Impl impl : {Impl::Ref, Impl::Fast}) {
    CAPTURE(to_string(impl));
    net.set_impl(impl);
    const std::vector<float> got = net.forward(x, Mode::Eval).to_float_vector();
    REQUIRE(got.size() == want.size());
    double scale = 0;
    for (double w : want) scale = std::max(scale, std::abs(w));
    for (size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= 1e-4 * scale);
  }
}

TEST_CASE("ResNet18's integral head with weights by formula gives the PyTorch integral head's outputs") {
  // The PyTorch side is scripts/torch_load_model.py's IntegralResNet18, the one PyTorch users load our
  // model files into: this pins that both read the same state names the same way.
  const nlohmann::json reference =
      nlohmann::json::parse(keynet::data::testing::read_text(keynet::data::testing::fixture("resnet18_formula_outputs.json")));
  Rng rng(1);
  ResNet18 net(1, 4, rng, ResNetHead::Integral);
  // the body's 100 float tensors, the head's two convolutions (3) and two BatchNorms (8)
  REQUIRE(set_all_by_formula(net) == 112);
  const Tensor x = formula_input();
  const std::vector<double> want = reference["integral_eval"].get<std::vector<double>>();
  for (Impl impl : {Impl::Ref, Impl::Fast}) {
    CAPTURE(to_string(impl));
    net.set_impl(impl);
    const std::vector<float> got = net.forward(x, Mode::Eval).to_float_vector();
    REQUIRE(got.size() == want.size());
    // points in [-1, 1], here within 0.004 of the centre (near-uniform maps): 1e-5 of the range pins them
    for (size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= 1e-5);
  }
}
