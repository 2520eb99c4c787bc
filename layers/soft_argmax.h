// SoftArgmax2d: scores x (N,K,H,W) -> points y (N,2K), the integral-regression head (Sun et al. 2018):
// each map's softmax of beta * x over its H*W cells, and the expected cell centre under it, (x, y)
// interleaved in keynet's normalised point coordinates (kernels/descriptors.h's SoftArgmaxDesc).
#pragma once
#include "layers/module.h"

namespace keynet {

class SoftArgmax2d : public Module {
 public:
  explicit SoftArgmax2d(double beta = 1.0);
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;

 private:
  double beta_;
  ops::SoftArgmaxDesc desc_;  // the last forward's
  Tensor probs_, output_;     // the last forward's (N,K,H,W) and (N,2K), for the backward
};

}  // namespace keynet
