#include "layers/batch_norm2d.h"

namespace keynet {

BatchNorm2d::BatchNorm2d(int channels, double eps, double momentum) : BatchNorm2d(channels, eps, momentum, false) {}

BatchNorm2d::BatchNorm2d(int channels, double eps, double momentum, bool relu)
    : channels_(channels), eps_(eps), momentum_(momentum), relu_(relu) {
  KEYNET_CHECK(channels > 0 && eps > 0 && momentum >= 0 && momentum <= 1, "BatchNorm2d: invalid configuration ",
               describe());
  weight_.value = Tensor::full({channels}, 1.0);
  weight_.grad = Tensor::zeros({channels});
  bias_.value = Tensor::zeros({channels});
  bias_.grad = Tensor::zeros({channels});
  running_mean_ = Tensor::zeros({channels});
  running_var_ = Tensor::full({channels}, 1.0);
}

std::string BatchNorm2d::describe() const {
  return detail::concat(relu_ ? "BatchNormReLU(" : "BatchNorm2d(", channels_, ", eps=", eps_, ", momentum=", momentum_,
                        ")");
}

ops::BatchNormDesc BatchNorm2d::descriptor(const Tensor& x) const {
  KEYNET_CHECK(x.ndim() == 4 && x.dim(1) == channels_, describe(), ": expected input (N,", channels_,
               ",H,W), got ", to_string(x.shape()));
  ops::BatchNormDesc d;
  d.N = x.dim(0), d.C = channels_, d.HW = x.dim(2) * x.dim(3), d.eps = eps_, d.momentum = momentum_;
  return d;
}

Tensor BatchNorm2d::forward(const Tensor& x, Mode mode) {
  const ops::BatchNormDesc d = descriptor(x);
  if (folded_) {
    KEYNET_CHECK(mode == Mode::Eval, describe(),
                 ": folded into the convolution before it for inference; it cannot train");
    last_forward_trained_ = false;
    mark_forward();
    if (!relu_) return x;
    Tensor y = empty_like_input(x, x.shape());
    ops::relu_forward(y, x, impl());
    return y;
  }
  Tensor y = empty_like_input(x, x.shape());
  if (mode == Mode::Train) {
    KEYNET_CHECK(static_cast<int64_t>(d.N) * d.HW > 1, describe(),
                 ": training needs more than one value per channel, got input ", to_string(x.shape()));
    save_mean_ = empty_like_input(x, {channels_});
    save_invstd_ = empty_like_input(x, {channels_});
    if (ranks_)
      forward_synchronised(y, x, d);
    else if (relu_)
      ops::batch_norm2d_relu_forward_train(y, save_mean_, save_invstd_, running_mean_, running_var_, x,
                                           weight_.value, bias_.value, d, impl());
    else
      ops::batch_norm2d_forward_train(y, save_mean_, save_invstd_, running_mean_, running_var_, x, weight_.value,
                                      bias_.value, d, impl());
    ++num_batches_tracked_;
    input_ = x;
    if (relu_) output_ = y;
  } else if (relu_) {
    ops::batch_norm2d_relu_forward_eval(y, x, weight_.value, bias_.value, running_mean_, running_var_, d, impl());
  } else {
    ops::batch_norm2d_forward_eval(y, x, weight_.value, bias_.value, running_mean_, running_var_, d, impl());
  }
  last_forward_trained_ = mode == Mode::Train;
  mark_forward();
  return y;
}

Tensor BatchNorm2d::backward(const Tensor& dy) {
  take_forward(relu_ ? "BatchNormReLU" : "BatchNorm2d");
  KEYNET_CHECK(last_forward_trained_, describe(), ": backward needs a forward in Mode::Train (batch statistics)");
  if (ranks_) return backward_synchronised(dy, descriptor(input_));
  Tensor dx = empty_like_input(input_, input_.shape());
  if (relu_)
    ops::batch_norm2d_relu_backward(dx, weight_.grad, bias_.grad, dy, input_, output_, weight_.value, save_mean_,
                                    save_invstd_, descriptor(input_), impl());
  else
    ops::batch_norm2d_backward(dx, weight_.grad, bias_.grad, dy, input_, weight_.value, save_mean_, save_invstd_,
                               descriptor(input_), impl());
  input_ = Tensor();
  output_ = Tensor();
  return dx;
}

void BatchNorm2d::forward_synchronised(Tensor& y, const Tensor& x, const ops::BatchNormDesc& d) {
  synchronised_count_ = static_cast<double>(ranks_->global_batch(d.N)) * d.HW;
  Tensor sum = empty_like_input(x, {channels_}), squares = empty_like_input(x, {channels_});
  ops::batch_norm2d_channel_sums(sum, x, nullptr, synchronised_count_, d, impl());
  ranks_->sum(sum);
  ops::batch_norm2d_channel_sums(squares, x, &sum, synchronised_count_, d, impl());
  ranks_->sum(squares);
  ops::batch_norm2d_stats_from_sums(save_mean_, save_invstd_, running_mean_, running_var_, sum, squares,
                                    synchronised_count_, d, impl());
  ops::batch_norm2d_normalize(y, x, weight_.value, bias_.value, save_mean_, save_invstd_, relu_, d, impl());
}

Tensor BatchNorm2d::backward_synchronised(const Tensor& dy, const ops::BatchNormDesc& d) {
  Tensor sums = empty_like_input(input_, {2 * channels_});
  const Tensor* out = relu_ ? &output_ : nullptr;
  ops::batch_norm2d_backward_sums(sums, weight_.grad, bias_.grad, dy, input_, out, save_mean_, save_invstd_, d,
                                  impl());
  ranks_->sum(sums);
  Tensor dx = empty_like_input(input_, input_.shape());
  ops::batch_norm2d_backward_apply(dx, dy, input_, out, weight_.value, save_mean_, save_invstd_, sums,
                                   synchronised_count_, d, impl());
  input_ = Tensor();
  output_ = Tensor();
  return dx;
}

void synchronise_batch_norms(Module& model, RankSum* ranks) {
  if (auto* bn = dynamic_cast<BatchNorm2d*>(&model)) bn->synchronise(ranks);
  model.for_each_child([&](const std::string&, Module& child) { synchronise_batch_norms(child, ranks); });
}

void BatchNorm2d::visit(ParamVisitor& visitor, const std::string& prefix) {
  visitor.parameter(join_name(prefix, "weight"), weight_);
  visitor.parameter(join_name(prefix, "bias"), bias_);
  visitor.buffer(join_name(prefix, "running_mean"), running_mean_);
  visitor.buffer(join_name(prefix, "running_var"), running_var_);
  visitor.counter(join_name(prefix, "num_batches_tracked"), num_batches_tracked_);
}

}  // namespace keynet
