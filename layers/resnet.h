// Residual networks as in torchvision: BasicBlock and ResNet18 (BasicBlocks [2,2,2,2]), with
// torchvision's parameter names so that checkpoints load into torchvision.models.resnet18.
#pragma once
#include <memory>
#include <string>

#include "layers/activation.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "layers/soft_argmax.h"
#include "layers/upsample.h"

namespace keynet {

// y = relu(bn2(conv2(relu(bn1(conv1(x))))) + skip(x)), skip = 1x1 conv + BN when the shape changes.
// bn1 and the ReLU after it are one BatchNormReLU (named bn1: torchvision's state names).
class BasicBlock : public Module {
 public:
  BasicBlock(int in_channels, int out_channels, int stride, Rng& rng);
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;
  void for_each_child(const ChildFn& fn) override;
  void set_needs_input_grad(bool needed) override;
  void fold_batch_norms() override;  // bn1 into conv1, bn2 into conv2, and the downsample's
  bool has_downsample() const { return downsample_ != nullptr; }

 private:
  int in_channels_, out_channels_, stride_;
  Conv2d conv1_;
  BatchNormReLU bn1_;  // bn1 then relu, fused
  Conv2d conv2_;
  BatchNorm2d bn2_;
  std::unique_ptr<Sequential> downsample_;
  ReLU relu_out_{true};  // over the residual sum, in place
};

// What follows layer4. Linear: torchvision's global average pool and fc, one value per output.
// Integral: integral regression (Sun et al. 2018) for num_outputs / 2 points: layer4's features (stride
// 32) upsampled twice by 2 (nearest, each followed by a 3x3 conv and BatchNormReLU: 256, then 128
// channels) to stride 8, one score map per point from a 1x1 conv, and each map's soft-argmax its point's
// (x, y) in [-1, 1], interleaved as the Linear head's outputs are. The maps' cells are 8 input pixels
// wide; the soft-argmax places points between cell centres.
enum class ResNetHead { Linear, Integral };
// The names a model card's architecture gives the heads, in ResNetHead's order.
inline constexpr const char* kResNet18Architectures[] = {"resnet18", "resnet18-integral"};
// The head an architecture name stands for; an unknown name is refused naming `source` and the known names.
ResNetHead resnet18_head(const std::string& architecture, const std::string& source);

// conv1 7x7/2 -> bn1 -> relu -> maxpool 3/2 -> layer1..layer4 -> the head; bn1 and relu are one
// BatchNormReLU named bn1.
class ResNet18 : public Module {
 public:
  ResNet18(int in_channels, int num_outputs, Rng& rng, ResNetHead head = ResNetHead::Linear);
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;
  // The body's children are ResNet18's own, so names carry no extra level ("layer1.0.conv1.weight");
  // the body itself holds no state and runs no kernel.
  void for_each_child(const ChildFn& fn) override { body_.for_each_child(fn); }
  void fold_batch_norms() override { body_.fold_batch_norms(); }

 private:
  int in_channels_, num_outputs_;
  ResNetHead head_;
  Sequential body_;
};

// torchvision's initialisation of a convolution: normal(0, sqrt(2 / (K*R*S))) (kaiming, fan_out, relu).
void init_kaiming_normal_fan_out(Conv2d& conv, Rng& rng);

}  // namespace keynet
