#include "layers/conv2d.h"

#include <cmath>

namespace keynet {

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, Rng& rng, int stride, int pad, bool bias)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel), stride_(stride), pad_(pad),
      has_bias_(bias) {
  KEYNET_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && stride > 0 && pad >= 0,
               "Conv2d: invalid configuration ", describe());
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_channels) * kernel * kernel);
  weight_.value = Tensor::uniform({out_channels, in_channels, kernel, kernel}, rng, -bound, bound);
  weight_.grad = Tensor::zeros(weight_.value.shape());
  if (bias) {
    bias_.value = Tensor::uniform({out_channels}, rng, -bound, bound);
    bias_.grad = Tensor::zeros({out_channels});
  }
}

std::string Conv2d::describe() const {
  return detail::concat("Conv2d(", in_channels_, ", ", out_channels_, ", kernel=", kernel_, ", stride=", stride_,
                        ", padding=", pad_, has_bias_ ? "" : ", bias=False", ")");
}

ops::ConvDesc Conv2d::descriptor(const Tensor& x) const {
  KEYNET_CHECK(x.ndim() == 4 && x.dim(1) == in_channels_, describe(), ": expected input (N,", in_channels_,
               ",H,W), got ", to_string(x.shape()));
  ops::ConvDesc d;
  d.N = x.dim(0), d.C = in_channels_, d.H = x.dim(2), d.W = x.dim(3);
  d.K = out_channels_, d.R = kernel_, d.S = kernel_, d.stride = stride_, d.pad = pad_;
  KEYNET_CHECK(d.P() > 0 && d.Q() > 0, describe(), ": input ", to_string(x.shape()), " is smaller than the kernel");
  return d;
}

void Conv2d::fold_batch_norm(BatchNorm2d& bn) {
  KEYNET_CHECK(bn.channels() == out_channels_, describe(), ": cannot fold ", bn.describe(), " (", out_channels_,
               " output channels)");
  const Tensor& weight = weight_.value;
  folded_weight_ = Tensor::empty(weight.shape(), weight.device(), weight.dtype());
  folded_bias_ = Tensor::empty({out_channels_}, weight.device(), weight.dtype());
  ops::batch_norm2d_fold(folded_weight_, folded_bias_, weight, has_bias_ ? &bias_.value : nullptr, bn.weight().value,
                         bn.bias().value, bn.running_mean(), bn.running_var(), bn.eps());
  bn.mark_folded();
}

Tensor Conv2d::forward(const Tensor& x, Mode mode) {
  const ops::ConvDesc d = descriptor(x);
  const bool folded = folded_weight_.defined();
  KEYNET_CHECK(!folded || mode == Mode::Eval, describe(),
               ": a batch norm is folded into it for inference; it cannot train");
  Tensor y = empty_like_input(x, {d.N, d.K, d.P(), d.Q()});
  if (folded)
    ops::conv2d_forward(y, x, folded_weight_, &folded_bias_, d, impl());
  else
    ops::conv2d_forward(y, x, weight_.value, has_bias_ ? &bias_.value : nullptr, d, impl());
  input_ = x;
  mark_forward();
  return y;
}

Tensor Conv2d::backward(const Tensor& dy) {
  take_forward("Conv2d");
  const ops::ConvDesc d = descriptor(input_);
  Tensor dx;
  if (needs_input_grad_) dx = empty_like_input(input_, input_.shape());
  ops::conv2d_backward(needs_input_grad_ ? &dx : nullptr, weight_.grad, has_bias_ ? &bias_.grad : nullptr, dy,
                       input_, weight_.value, d, impl());
  input_ = Tensor();
  return dx;
}

void Conv2d::visit(ParamVisitor& visitor, const std::string& prefix) {
  visitor.parameter(join_name(prefix, "weight"), weight_);
  if (has_bias_) visitor.parameter(join_name(prefix, "bias"), bias_);
}

}  // namespace keynet
