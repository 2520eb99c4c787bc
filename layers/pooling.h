// MaxPool2d: x (N,C,H,W) -> y (N,C,P,Q). GlobalAvgPool2d: x (N,C,H,W) -> y (N,C).
#pragma once
#include "layers/module.h"

namespace keynet {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int kernel, int stride = -1, int pad = 0);  // stride defaults to kernel, as in PyTorch
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;

 private:
  ops::PoolDesc descriptor(const Tensor& x) const;
  int kernel_, stride_, pad_;
  Tensor input_, output_;
};

class GlobalAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override { return "GlobalAvgPool2d()"; }

 private:
  Shape input_shape_;
  Device input_device_ = Device::CPU;
  DType input_dtype_ = DType::F32;
};

}  // namespace keynet
