#include "layers/nets.h"

namespace keynet {

std::unique_ptr<Sequential> make_conv_net(const ConvNetSpec& spec, int height, int width, int num_outputs, Rng& rng) {
  auto net = std::make_unique<Sequential>();
  int channels = 1;
  for (const ConvStage& stage : spec.stages) {
    const int pad = stage.pad < 0 ? stage.kernel / 2 : stage.pad;
    net->emplace<Conv2d>("", channels, stage.channels, stage.kernel, rng, 1, pad, /*bias=*/!spec.batch_norm);
    if (spec.batch_norm) net->emplace<BatchNorm2d>("", stage.channels);
    net->emplace<ReLU>("");
    height = height + 2 * pad - stage.kernel + 1;
    width = width + 2 * pad - stage.kernel + 1;
    if (stage.pool) {
      net->emplace<MaxPool2d>("", 2);
      height /= 2;
      width /= 2;
    }
    KEYNET_CHECK(height > 0 && width > 0, "network input too small for its convolution stages");
    channels = stage.channels;
  }
  net->emplace<Flatten>("");
  int features = channels * height * width;
  for (int hidden : spec.hidden) {
    net->emplace<Linear>("", features, hidden, rng);
    net->emplace<ReLU>("");
    features = hidden;
  }
  net->emplace<Linear>("", features, num_outputs, rng);
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
