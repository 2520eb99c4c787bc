// SoftArgmax2d (layers/soft_argmax.h): shape checks, then ops::soft_argmax2d_forward and _backward.
#include "layers/soft_argmax.h"

#include <cmath>

namespace keynet {

SoftArgmax2d::SoftArgmax2d(double beta) : beta_(beta) {
  KEYNET_CHECK(std::isfinite(beta) && beta > 0, "SoftArgmax2d: beta must be positive and finite, got ", beta);
}

std::string SoftArgmax2d::describe() const { return detail::concat("SoftArgmax2d(beta=", beta_, ")"); }

Tensor SoftArgmax2d::forward(const Tensor& x, Mode) {
  KEYNET_CHECK(x.ndim() == 4, describe(), ": expected scores (N,K,H,W), got ", to_string(x.shape()));
  ops::SoftArgmaxDesc d;
  d.N = x.dim(0), d.K = x.dim(1), d.H = x.dim(2), d.W = x.dim(3), d.beta = beta_;
  Tensor probs = empty_like_input(x, x.shape()), y = empty_like_input(x, {d.N, 2 * d.K});
  ops::soft_argmax2d_forward(y, probs, x, d, impl());
  desc_ = d;
  probs_ = probs;
  output_ = y;
  mark_forward();
  return y;
}

Tensor SoftArgmax2d::backward(const Tensor& dy) {
  take_forward("SoftArgmax2d");
  KEYNET_CHECK(dy.shape() == output_.shape(), describe(), ": output gradient ", to_string(dy.shape()),
               " does not match the output ", to_string(output_.shape()), " (N,2K)");
  Tensor dx = empty_like_input(probs_, probs_.shape());
  ops::soft_argmax2d_backward(dx, dy, probs_, output_, desc_, impl());
  probs_ = output_ = Tensor();
  return dx;
}

}  // namespace keynet
