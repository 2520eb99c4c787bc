// Conv2d: x (N,C,H,W) -> y (N,K,P,Q). weight (K,C,R,S) OIHW like PyTorch, bias (K) optional.
#pragma once
#include "layers/batch_norm2d.h"
#include "layers/module.h"
#include "layers/param_visitor.h"

namespace keynet {

class Conv2d : public Module {
 public:
  // PyTorch's default initialisation: weight and bias uniform in +-1/sqrt(C*R*S).
  Conv2d(int in_channels, int out_channels, int kernel, Rng& rng, int stride = 1, int pad = 0, bool bias = true);
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void visit(ParamVisitor& visitor, const std::string& prefix) override;
  std::string describe() const override;

  Parameter& weight() { return weight_; }
  Parameter* bias() { return has_bias_ ? &bias_ : nullptr; }
  int in_channels() const { return in_channels_; }
  int out_channels() const { return out_channels_; }
  // `bn`, which must directly follow this convolution, folded into a copy of the weight and bias that
  // Mode::Eval uses from now on (Module::fold_batch_norms says when and why).
  void fold_batch_norm(BatchNorm2d& bn);

 private:
  ops::ConvDesc descriptor(const Tensor& x) const;
  int in_channels_, out_channels_, kernel_, stride_, pad_;
  bool has_bias_;
  Parameter weight_, bias_;
  Tensor folded_weight_, folded_bias_;  // defined once a batch norm is folded in
  Tensor input_;
};

}  // namespace keynet
