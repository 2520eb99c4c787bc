#include "layers/nets.h"

namespace keynet {

std::unique_ptr<Sequential> make_conv_net(const ConvNetSpec& spec, int height, int width, int num_outputs, Rng& rng) {
  auto net = std::make_unique<Sequential>();
  // Children are numbered as torch.nn.Sequential numbers conv, BatchNorm2d, ReLU, ...: the fused
  // BatchNormReLU takes its BatchNorm2d's number and skips its ReLU's, so the state names ("4.weight") are
  // those of the unfused network and of PyTorch's.
  int index = 0;
  const auto next = [&index](int numbers = 1) {
    const std::string name = std::to_string(index);
    index += numbers;
    return name;
  };
  int channels = 1;
  for (const ConvStage& stage : spec.stages) {
    const int pad = stage.pad < 0 ? stage.kernel / 2 : stage.pad;
    net->emplace<Conv2d>(next(), channels, stage.channels, stage.kernel, rng, 1, pad, /*bias=*/!spec.batch_norm);
    if (spec.batch_norm)
      net->emplace<BatchNormReLU>(next(2), stage.channels);  // BatchNorm2d -> ReLU, fused
    else
      net->emplace<ReLU>(next());
    height = height + 2 * pad - stage.kernel + 1;
    width = width + 2 * pad - stage.kernel + 1;
    if (stage.pool) {
      net->emplace<MaxPool2d>(next(), 2);
      height /= 2;
      width /= 2;
    }
    KEYNET_CHECK(height > 0 && width > 0, "network input too small for its convolution stages");
    channels = stage.channels;
  }
  net->emplace<Flatten>(next());
  int features = channels * height * width;
  for (int hidden : spec.hidden) {
    net->emplace<Linear>(next(), features, hidden, rng);
    net->emplace<ReLU>(next());
    features = hidden;
  }
  net->emplace<Linear>(next(), features, num_outputs, rng);
  return net;
}

std::unique_ptr<Sequential> make_nose_net(Rng& rng, int height, int width, int num_outputs) {
  return make_conv_net({.stages = {{12, 5, 2}, {24, 5, 0}, {32, 3, 0}}, .hidden = {128}}, height, width, num_outputs,
                       rng);
}

std::unique_ptr<Sequential> make_face_net(Rng& rng, int height, int width, int num_outputs) {
  return make_conv_net({.stages = {{16, 7}, {32, 5}, {64, 3}, {128, 3}, {256, 3}}, .hidden = {512}}, height, width,
                       num_outputs, rng);
}

}  // namespace keynet
