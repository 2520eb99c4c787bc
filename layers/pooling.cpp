#include "layers/pooling.h"

namespace keynet {

MaxPool2d::MaxPool2d(int kernel, int stride, int pad) : kernel_(kernel), stride_(stride < 0 ? kernel : stride), pad_(pad) {
  KEYNET_CHECK(kernel > 0 && stride_ > 0 && pad >= 0 && 2 * pad <= kernel, "MaxPool2d: invalid configuration ",
               describe(), " (padding must be at most half the kernel)");
}

std::string MaxPool2d::describe() const {
  return detail::concat("MaxPool2d(kernel_size=", kernel_, ", stride=", stride_, ", padding=", pad_, ")");
}

ops::PoolDesc MaxPool2d::descriptor(const Tensor& x) const {
  KEYNET_CHECK(x.ndim() == 4, describe(), ": expected input (N,C,H,W), got ", to_string(x.shape()));
  ops::PoolDesc d;
  d.N = x.dim(0), d.C = x.dim(1), d.H = x.dim(2), d.W = x.dim(3);
  d.kernel = kernel_, d.stride = stride_, d.pad = pad_;
  KEYNET_CHECK(d.P() > 0 && d.Q() > 0, describe(), ": input ", to_string(x.shape()), " is smaller than the window");
  return d;
}

Tensor MaxPool2d::forward(const Tensor& x, Mode) {
  const ops::PoolDesc d = descriptor(x);
  Tensor y = empty_like_input(x, {d.N, d.C, d.P(), d.Q()});
  ops::max_pool2d_forward(y, x, d, impl());
  input_ = x;
  output_ = y;
  mark_forward();
  return y;
}

Tensor MaxPool2d::backward(const Tensor& dy) {
  take_forward("MaxPool2d");
  Tensor dx = empty_like_input(input_, input_.shape());
  ops::max_pool2d_backward(dx, dy, input_, output_, descriptor(input_), impl());
  input_ = output_ = Tensor();
  return dx;
}

Tensor GlobalAvgPool2d::forward(const Tensor& x, Mode) {
  KEYNET_CHECK(x.ndim() == 4, describe(), ": expected input (N,C,H,W), got ", to_string(x.shape()));
  Tensor y = empty_like_input(x, {x.dim(0), x.dim(1)});
  ops::global_avg_pool_forward(y, x, impl());
  input_shape_ = x.shape();
  input_device_ = x.device();
  input_dtype_ = x.dtype();
  mark_forward();
  return y;
}

Tensor GlobalAvgPool2d::backward(const Tensor& dy) {
  take_forward("GlobalAvgPool2d");
  Tensor dx = Tensor::empty(input_shape_, input_device_, input_dtype_);
  ops::global_avg_pool_backward(dx, dy, impl());
  return dx;
}

}  // namespace keynet
