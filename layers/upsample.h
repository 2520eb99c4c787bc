// UpsampleNearest2d: x (N,C,H,W) -> y (N,C,H*scale,W*scale), each input element repeated over a
// scale x scale block (PyTorch's nn.Upsample(scale_factor=scale, mode='nearest')).
#pragma once
#include "layers/module.h"

namespace keynet {

class UpsampleNearest2d : public Module {
 public:
  explicit UpsampleNearest2d(int scale);
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;

 private:
  int scale_;
  ops::UpsampleDesc desc_;  // the last forward's
  Device input_device_ = Device::CPU;
  DType input_dtype_ = DType::F32;
};

}  // namespace keynet
