// ReLU (any shape) and Flatten ((N, ...) -> (N, rest), a view: no copy).
#pragma once
#include "layers/module.h"

namespace keynet {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override { return "ReLU()"; }

 private:
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
