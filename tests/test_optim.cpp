// Adam, AdamW and SGD against trajectories recorded from torch.optim (tests/fixtures/generators).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "layers/module.h"
#include "layers/param_visitor.h"
#include "optim/optimizer.h"

using namespace keynet;

namespace {

// A module that is nothing but one parameter vector.
class ParameterHolder : public Module {
 public:
  explicit ParameterHolder(const Tensor& initial) {
    p_.value = initial.clone();
    p_.grad = Tensor::zeros(initial.shape(), initial.device(), initial.dtype());
  }
  Tensor forward(const Tensor& x, Mode) override { return x; }
  Tensor backward(const Tensor& dy) override { return dy; }
  void visit(ParamVisitor& visitor, const std::string& prefix) override { visitor.parameter(join_name(prefix, "p"), p_); }
  std::string describe() const override { return "ParameterHolder"; }
  Parameter& p() { return p_; }

 private:
  Parameter p_;
};

nlohmann::json load_trajectories() {
  std::ifstream in(KEYNET_FIXTURES_DIR "/optimizer_trajectories.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, const nlohmann::json& options, Module& module) {
  if (name.rfind("adam", 0) == 0) {
    AdamOptions o;
    o.lr = options["lr"];
    if (options.contains("betas")) o.beta1 = options["betas"][0], o.beta2 = options["betas"][1];
    if (options.contains("eps")) o.eps = options["eps"];
    if (options.contains("weight_decay")) o.weight_decay = options["weight_decay"];
    o.decoupled_weight_decay = name == "adamw";
    return std::make_unique<Adam>(module, o);
  }
  SgdOptions o;
  o.lr = options["lr"];
  if (options.contains("momentum")) o.momentum = options["momentum"];
  if (options.contains("dampening")) o.dampening = options["dampening"];
  if (options.contains("weight_decay")) o.weight_decay = options["weight_decay"];
  if (options.contains("nesterov")) o.nesterov = options["nesterov"];
  return std::make_unique<SGD>(module, o);
}

}  // namespace

TEST_CASE("Adam, AdamW and SGD follow torch.optim step by step") {
  const nlohmann::json fixture = load_trajectories();
  const auto initial = fixture["initial"].get<std::vector<double>>();
  const auto gradients = fixture["gradients"].get<std::vector<std::vector<double>>>();
  REQUIRE(fixture["cases"].size() >= 6);
  struct Setting {
    DType dtype;
    Impl impl;
    double tolerance;
  };
  for (const Setting setting : {Setting{DType::F64, Impl::Ref, 1e-12}, Setting{DType::F32, Impl::Ref, 2e-6},
                                Setting{DType::F32, Impl::Fast, 2e-6}}) {
    for (const auto& [name, spec] : fixture["cases"].items()) {
      CAPTURE(name);
      CAPTURE(to_string(setting.dtype));
      CAPTURE(to_string(setting.impl));
      ParameterHolder holder(Tensor::from_vector({5}, initial).to(setting.dtype));
      std::unique_ptr<Optimizer> optimizer = make_optimizer(name, spec["options"], holder);
      optimizer->set_impl(setting.impl);
      const auto trajectory = spec["trajectory"].get<std::vector<std::vector<double>>>();
      double worst = 0;
      for (std::size_t step = 0; step < trajectory.size(); ++step) {
        holder.p().grad.copy_from(Tensor::from_vector({5}, gradients[step]).to(setting.dtype));
        optimizer->step();
        const std::vector<double> got = holder.p().value.to_double_vector();
        for (int i = 0; i < 5; ++i) worst = std::max(worst, std::abs(got[i] - trajectory[step][i]));
      }
      CHECK(worst <= setting.tolerance);
      CHECK(optimizer->steps_taken() == static_cast<int64_t>(trajectory.size()));
    }
  }
}

TEST_CASE("a wrong hyperparameter changes the trajectory (the comparison is not vacuous)") {
  const nlohmann::json fixture = load_trajectories();
  ParameterHolder holder(Tensor::from_vector({5}, fixture["initial"].get<std::vector<double>>()).to(DType::F64));
  AdamOptions options;
  options.lr = 0.0101;  // the fixture used 0.01
  Adam adam(holder, options);
  holder.p().grad.copy_from(Tensor::from_vector({5}, fixture["gradients"][0].get<std::vector<double>>()));
  adam.step();
  const double expected = fixture["cases"]["adam"]["trajectory"][0][0];
  CHECK(std::abs(holder.p().value.at({0}) - expected) > 1e-6);
}

TEST_CASE("optimizers refuse invalid options") {
  ParameterHolder holder(Tensor::zeros({2}));
  AdamOptions bad_adam;
  bad_adam.beta1 = 1.0;
  CHECK_THROWS_AS(Adam(holder, bad_adam), Error);
  SgdOptions bad_sgd;
  bad_sgd.nesterov = true;  // without momentum
  CHECK_THROWS_AS(SGD(holder, bad_sgd), Error);
}
