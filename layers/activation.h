// ReLU (any shape) and Flatten ((N, ...) -> (N, rest), a view: no copy).
// ReLU(true) is torch.nn.ReLU(inplace=True): the output is written over the input, whose storage the caller
// gives up (BasicBlock's ReLU after the residual sum, which nothing else reads), so a training step keeps
// one tensor fewer.
#pragma once
#include "layers/module.h"

namespace keynet {

class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false) : inplace_(inplace) {}
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override { return inplace_ ? "ReLU(inplace=True)" : "ReLU()"; }

 private:
  bool inplace_;
  Tensor output_;
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override { return "Flatten()"; }

 private:
  Shape input_shape_;
};

}  // namespace keynet
