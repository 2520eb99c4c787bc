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

// torchvision applies one stateless `relu` twice; here the first is fused into bn1 (BatchNormReLU) and
// the second runs in place over the residual sum and caches its output as the mask. Neither has state, so
// neither name reaches a state dict.
void BasicBlock::for_each_child(const ChildFn& fn) {
  fn("conv1", conv1_);
  fn("bn1", bn1_);
  fn("conv2", conv2_);
  fn("bn2", bn2_);
  if (downsample_) fn("downsample", *downsample_);
  fn("relu_out", relu_out_);
}

void BasicBlock::fold_batch_norms() {
  conv1_.fold_batch_norm(bn1_);
  conv2_.fold_batch_norm(bn2_);
  if (downsample_) downsample_->fold_batch_norms();
}

// The input feeds conv1 (the first child, as by default) and the skip path's projection.
void BasicBlock::set_needs_input_grad(bool needed) {
  Module::set_needs_input_grad(needed);
  if (downsample_) downsample_->set_needs_input_grad(needed);
}

Tensor BasicBlock::forward(const Tensor& x, Mode mode) {
  Tensor h = bn1_.forward(conv1_.forward(x, mode), mode);  // relu(bn1(conv1(x)))
  h = bn2_.forward(conv2_.forward(h, mode), mode);
  const Tensor skip = downsample_ ? downsample_->forward(x, mode) : x;
  KEYNET_CHECK(skip.shape() == h.shape(), describe(), ": skip path ", to_string(skip.shape()),
               " does not match main path ", to_string(h.shape()));
  // relu(h + skip) over bn2's output, which nothing else holds (bn2 keeps its input; folded, it passed conv2's
  // fresh output through), as torchvision's `out += identity; out = relu(out)`: no tensor for the sum
  ops::add(h, h, skip, impl());
  mark_forward();
  return relu_out_.forward(h, mode);
}

Tensor BasicBlock::backward(const Tensor& dy) {
  take_forward("BasicBlock");
  const Tensor dsum = relu_out_.backward(dy);
  Tensor g = bn2_.backward(dsum);
  g = conv2_.backward(g);
  g = bn1_.backward(g);
  Tensor dx = conv1_.backward(g);
  const Tensor dskip = downsample_ ? downsample_->backward(dsum) : dsum;
  if (!needs_input_grad_) return Tensor();  // both paths above still added their parameter gradients
  ops::add(dx, dx, dskip, impl());  // into the main path's fresh gradient: one tensor fewer at a time
  return dx;
}

ResNetHead resnet18_head(const std::string& architecture, const std::string& source) {
  constexpr ResNetHead heads[] = {ResNetHead::Linear, ResNetHead::Integral};
  static_assert(std::size(heads) == std::size(kResNet18Architectures));
  for (size_t i = 0; i < std::size(heads); ++i)
    if (architecture == kResNet18Architectures[i]) return heads[i];
  throw Error(detail::concat(source, ": unknown architecture '", architecture, "' (known: ", kResNet18Architectures[0],
                             ", ", kResNet18Architectures[1], ")"));
}

ResNet18::ResNet18(int in_channels, int num_outputs, Rng& rng, ResNetHead head)
    : in_channels_(in_channels), num_outputs_(num_outputs), head_(head) {
  KEYNET_CHECK(in_channels > 0 && num_outputs > 0 && (head == ResNetHead::Linear || num_outputs % 2 == 0),
               "ResNet18: invalid configuration ", describe());
  Conv2d& stem = body_.emplace<Conv2d>("conv1", in_channels, 64, 7, rng, 2, 3, false);
  init_kaiming_normal_fan_out(stem, rng);
  body_.emplace<BatchNormReLU>("bn1", 64);  // bn1 -> relu, fused; the stateless relu had no state to name
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
  if (head == ResNetHead::Linear) {
    body_.emplace<GlobalAvgPool2d>("avgpool");
    body_.emplace<Linear>("fc", 512, num_outputs, rng);
    return;
  }
  auto maps = std::make_unique<Sequential>();
  const int head_widths[2] = {256, 128};
  for (int width : head_widths) {
    maps->emplace<UpsampleNearest2d>("", 2);
    init_kaiming_normal_fan_out(maps->emplace<Conv2d>("", channels, width, 3, rng, 1, 1, false), rng);
    maps->emplace<BatchNormReLU>("", width);
    channels = width;
  }
  // Small initial scores: every map starts near uniform, its point near the crop's centre.
  Conv2d& scores = maps->emplace<Conv2d>("", channels, num_outputs / 2, 1, rng);
  scores.weight().value = Tensor::normal(scores.weight().value.shape(), rng, 0.0, 1e-3);
  scores.bias()->value = Tensor::zeros({num_outputs / 2});
  maps->emplace<SoftArgmax2d>("");
  body_.add(std::move(maps), "head");
}

std::string ResNet18::describe() const {
  return detail::concat("ResNet18(in_channels=", in_channels_, ", num_outputs=", num_outputs_,
                        head_ == ResNetHead::Integral ? ", head=integral" : "", ")");
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

}  // namespace keynet
