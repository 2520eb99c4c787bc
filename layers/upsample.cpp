// UpsampleNearest2d (layers/upsample.h): shape checks, then ops::upsample_nearest2d_forward and _backward.
#include "layers/upsample.h"

namespace keynet {

UpsampleNearest2d::UpsampleNearest2d(int scale) : scale_(scale) {
  KEYNET_CHECK(scale > 0, "UpsampleNearest2d: scale must be a positive integer, got ", scale);
}

std::string UpsampleNearest2d::describe() const { return detail::concat("UpsampleNearest2d(scale=", scale_, ")"); }

Tensor UpsampleNearest2d::forward(const Tensor& x, Mode) {
  KEYNET_CHECK(x.ndim() == 4, describe(), ": expected input (N,C,H,W), got ", to_string(x.shape()));
  ops::UpsampleDesc d;
  d.N = x.dim(0), d.C = x.dim(1), d.H = x.dim(2), d.W = x.dim(3), d.scale = scale_;
  Tensor y = empty_like_input(x, {d.N, d.C, d.OH(), d.OW()});
  ops::upsample_nearest2d_forward(y, x, d, impl());
  desc_ = d;
  input_device_ = x.device();
  input_dtype_ = x.dtype();
  mark_forward();
  return y;
}

Tensor UpsampleNearest2d::backward(const Tensor& dy) {
  take_forward("UpsampleNearest2d");
  const ops::UpsampleDesc& d = desc_;
  const Shape output_shape{d.N, d.C, d.OH(), d.OW()};
  KEYNET_CHECK(dy.shape() == output_shape, describe(), ": output gradient ", to_string(dy.shape()),
               " does not match the output ", to_string(output_shape));
  Tensor dx = Tensor::empty({d.N, d.C, d.H, d.W}, input_device_, input_dtype_);
  ops::upsample_nearest2d_backward(dx, dy, d, impl());
  return dx;
}

}  // namespace keynet
