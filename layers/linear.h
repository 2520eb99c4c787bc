// Linear: x (N,I) -> y (N,O) = x W^T + b. weight (O,I) like PyTorch's nn.Linear.
#pragma once
#include "layers/module.h"
#include "layers/param_visitor.h"

namespace keynet {

class Linear : public Module {
 public:
  // PyTorch's default initialisation: weight and bias uniform in +-1/sqrt(I).
  Linear(int in_features, int out_features, Rng& rng, bool bias = true);
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void visit(ParamVisitor& visitor, const std::string& prefix) override;
  std::string describe() const override;

  Parameter& weight() { return weight_; }
  Parameter* bias() { return has_bias_ ? &bias_ : nullptr; }

 private:
  int in_features_, out_features_;
  bool has_bias_;
  Parameter weight_, bias_;
  Tensor input_;
};

}  // namespace keynet
