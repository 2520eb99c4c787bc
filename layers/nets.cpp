#include "layers/nets.h"

namespace keynet {

namespace {
struct ConvStage {
  int channels, kernel, pad;
};

// conv+ReLU+maxpool2 stages, then Flatten, linear->hidden, ReLU, linear->outputs. Spatial sizes are
// tracked here so that the first linear layer gets the right input width.
std::unique_ptr<Sequential> make_conv_net(Rng& rng, int height, int width, std::initializer_list<ConvStage> stages,
                                          int hidden, int num_outputs) {
  auto net = std::make_unique<Sequential>();
  int channels = 1;
  for (const ConvStage& stage : stages) {
    net->emplace<Conv2d>("", channels, stage.channels, stage.kernel, rng, 1, stage.pad);
    net->emplace<ReLU>("");
    net->emplace<MaxPool2d>("", 2);
    height = (height + 2 * stage.pad - stage.kernel + 1) / 2;
    width = (width + 2 * stage.pad - stage.kernel + 1) / 2;
    KEYNET_CHECK(height > 0 && width > 0, "network input too small for its convolution stages");
    channels = stage.channels;
  }
  net->emplace<Flatten>("");
  net->emplace<Linear>("", channels * height * width, hidden, rng);
  net->emplace<ReLU>("");
  net->emplace<Linear>("", hidden, num_outputs, rng);
  return net;
}
}  // namespace

std::unique_ptr<Sequential> make_nose_net(Rng& rng, int height, int width, int num_outputs) {
  return make_conv_net(rng, height, width, {{12, 5, 2}, {24, 5, 0}, {32, 3, 0}}, 128, num_outputs);
}

std::unique_ptr<Sequential> make_face_net(Rng& rng, int height, int width, int num_outputs) {
  return make_conv_net(rng, height, width, {{16, 7, 3}, {32, 5, 2}, {64, 3, 1}, {128, 3, 1}, {256, 3, 1}}, 512,
                       num_outputs);
}

}  // namespace keynet
