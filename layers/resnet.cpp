#include "layers/resnet.h"

#include <cmath>

namespace keynet {

void init_kaiming_normal_fan_out(Conv2d& conv, Rng& rng) {
  const Shape shape = conv.weight().value.shape();
  const double fan_out = static_cast<double>(shape[0]) * shape[2] * shape[3];
  conv.weight().value = Tensor::normal(shape, rng, 0.0, std::sqrt(2.0 / fan_out));
}

BasicBlock::BasicBlock(int in_channels, int out_channels, int stride, Rng& rng)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride),
      conv1_(in_channels, out_channels, 3, rng, stride, 1, false), bn1_(out_channels),
      conv2_(out_channels, out_channels, 3, rng, 1, 1, false), bn2_(out_channels) {
  init_kaiming_normal_fan_out(conv1_, rng);
  init_kaiming_normal_fan_out(conv2_, rng);
  if (stride != 1 || in_channels != out_channels) {
    downsample_ = std::make_unique<Sequential>();
    Conv2d& projection = downsample_->emplace<Conv2d>("", in_channels, out_channels, 1, rng, stride, 0, false);
    init_kaiming_normal_fan_out(projection, rng);
    downsample_->emplace<BatchNorm2d>("", out_channels);
  }
}

std::string BasicBlock::describe() const {
  return detail::concat("BasicBlock(", in_channels_, ", ", out_channels_, ", stride=", stride_,
                        downsample_ ? ", downsample" : "", ")");
}

void BasicBlock::set_impl(Impl impl) {
  impl_ = impl;
  for (Module* m : std::initializer_list<Module*>{&conv1_, &bn1_, &relu1_, &conv2_, &bn2_, &relu_out_})
    m->set_impl(impl);
  if (downsample_) downsample_->set_impl(impl);
}

Tensor BasicBlock::forward(const Tensor& x, Mode mode) {
  Tensor h = relu1_.forward(bn1_.forward(conv1_.forward(x, mode), mode), mode);
  h = bn2_.forward(conv2_.forward(h, mode), mode);
  const Tensor skip = downsample_ ? downsample_->forward(x, mode) : x;
  KEYNET_CHECK(skip.shape() == h.shape(), describe(), ": skip path ", to_string(skip.shape()),
               " does not match main path ", to_string(h.shape()));
  Tensor sum = empty_like_input(h, h.shape());
  ops::add(sum, h, skip, impl());
  mark_forward();
  return relu_out_.forward(sum, mode);
}

Tensor BasicBlock::backward(const Tensor& dy) {
  take_forward("BasicBlock");
  const Tensor dsum = relu_out_.backward(dy);
  Tensor g = bn2_.backward(dsum);
  g = conv2_.backward(g);
  g = bn1_.backward(relu1_.backward(g));
  const Tensor dmain = conv1_.backward(g);
  const Tensor dskip = downsample_ ? downsample_->backward(dsum) : dsum;
  Tensor dx = empty_like_input(dmain, dmain.shape());
  ops::add(dx, dmain, dskip, impl());
  return dx;
}

void BasicBlock::visit(ParamVisitor& visitor, const std::string& prefix) {
  conv1_.visit(visitor, join_name(prefix, "conv1"));
  bn1_.visit(visitor, join_name(prefix, "bn1"));
  conv2_.visit(visitor, join_name(prefix, "conv2"));
  bn2_.visit(visitor, join_name(prefix, "bn2"));
  if (downsample_) downsample_->visit(visitor, join_name(prefix, "downsample"));
}

ResNet18::ResNet18(int in_channels, int num_outputs, Rng& rng) : in_channels_(in_channels), num_outputs_(num_outputs) {
  KEYNET_CHECK(in_channels > 0 && num_outputs > 0, "ResNet18: invalid configuration ", describe());
  Conv2d& stem = body_.emplace<Conv2d>("conv1", in_channels, 64, 7, rng, 2, 3, false);
  init_kaiming_normal_fan_out(stem, rng);
  body_.emplace<BatchNorm2d>("bn1", 64);
  body_.emplace<ReLU>("relu");
  body_.emplace<MaxPool2d>("maxpool", 3, 2, 1);
  const int widths[4] = {64, 128, 256, 512};
  int channels = 64;
  for (int stage = 0; stage < 4; ++stage) {
    auto layer = std::make_unique<Sequential>();
    const int stride = stage == 0 ? 1 : 2;
    layer->emplace<BasicBlock>("", channels, widths[stage], stride, rng);
    layer->emplace<BasicBlock>("", widths[stage], widths[stage], 1, rng);
    channels = widths[stage];
    body_.add(std::move(layer), "layer" + std::to_string(stage + 1));
  }
  body_.emplace<GlobalAvgPool2d>("avgpool");
  body_.emplace<Linear>("fc", 512, num_outputs, rng);
}

std::string ResNet18::describe() const {
  return detail::concat("ResNet18(in_channels=", in_channels_, ", num_outputs=", num_outputs_, ")");
}

Tensor ResNet18::forward(const Tensor& x, Mode mode) {
  KEYNET_CHECK(x.ndim() == 4 && x.dim(1) == in_channels_, describe(), ": expected input (N,", in_channels_,
               ",H,W), got ", to_string(x.shape()));
  mark_forward();
  return body_.forward(x, mode);
}

Tensor ResNet18::backward(const Tensor& dy) {
  take_forward("ResNet18");
  return body_.backward(dy);
}

void ResNet18::visit(ParamVisitor& visitor, const std::string& prefix) { body_.visit(visitor, prefix); }

void ResNet18::set_impl(Impl impl) {
  impl_ = impl;
  body_.set_impl(impl);
}

void ResNet18::set_needs_input_grad(bool needed) {
  needs_input_grad_ = needed;
  body_.set_needs_input_grad(needed);
}

}  // namespace keynet
