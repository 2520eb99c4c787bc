#include "layers/activation.h"

namespace keynet {

Tensor ReLU::forward(const Tensor& x, Mode) {
  Tensor y = inplace_ ? x : empty_like_input(x, x.shape());
  ops::relu_forward(y, x, impl());
  output_ = y;
  mark_forward();
  return y;
}

Tensor ReLU::backward(const Tensor& dy) {
  take_forward("ReLU");
  Tensor dx = empty_like_input(output_, output_.shape());
  ops::relu_backward(dx, dy, output_, impl());
  output_ = Tensor();
  return dx;
}

Tensor Flatten::forward(const Tensor& x, Mode) {
  KEYNET_CHECK(x.ndim() >= 1, "Flatten: expected a batch, got ", to_string(x.shape()));
  input_shape_ = x.shape();
  mark_forward();
  return x.reshape({x.dim(0), -1});
}

Tensor Flatten::backward(const Tensor& dy) {
  take_forward("Flatten");
  return dy.reshape(input_shape_);
}

}  // namespace keynet
