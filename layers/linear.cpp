#include "layers/linear.h"

#include <cmath>

namespace keynet {

Linear::Linear(int in_features, int out_features, Rng& rng, bool bias)
    : in_features_(in_features), out_features_(out_features), has_bias_(bias) {
  KEYNET_CHECK(in_features > 0 && out_features > 0, "Linear: invalid configuration ", describe());
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight_.value = Tensor::uniform({out_features, in_features}, rng, -bound, bound);
  weight_.grad = Tensor::zeros(weight_.value.shape());
  if (bias) {
    bias_.value = Tensor::uniform({out_features}, rng, -bound, bound);
    bias_.grad = Tensor::zeros({out_features});
  }
}

std::string Linear::describe() const {
  return detail::concat("Linear(in_features=", in_features_, ", out_features=", out_features_,
                        has_bias_ ? "" : ", bias=False", ")");
}

Tensor Linear::forward(const Tensor& x, Mode) {
  KEYNET_CHECK(x.ndim() == 2 && x.dim(1) == in_features_, describe(), ": expected input (N,", in_features_,
               "), got ", to_string(x.shape()));
  Tensor y = empty_like_input(x, {x.dim(0), out_features_});
  ops::linear_forward(y, x, weight_.value, has_bias_ ? &bias_.value : nullptr, impl());
  input_ = x;
  mark_forward();
  return y;
}

Tensor Linear::backward(const Tensor& dy) {
  take_forward("Linear");
  Tensor dx;
  if (needs_input_grad_) dx = empty_like_input(input_, input_.shape());
  ops::linear_backward(needs_input_grad_ ? &dx : nullptr, weight_.grad, has_bias_ ? &bias_.grad : nullptr, dy, input_,
                       weight_.value, impl());
  input_ = Tensor();
  return dx;
}

void Linear::visit(ParamVisitor& visitor, const std::string& prefix) {
  visitor.parameter(join_name(prefix, "weight"), weight_);
  if (has_bias_) visitor.parameter(join_name(prefix, "bias"), bias_);
}

}  // namespace keynet
