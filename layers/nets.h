// The reference networks of the course project (see docs/DESIGN.md "Models") built from our layers,
// and the builder behind them: stages of convolutions (optionally with BatchNorm), each ending in a
// 2x2 max pool, then fully connected layers.
#pragma once
#include <memory>
#include <vector>

#include "layers/resnet.h"

namespace keynet {

struct ConvStage {
  int channels = 0;
  int kernel = 3;
  int pad = -1;       // -1: kernel / 2 (keeps the size)
  bool pool = true;   // a 2x2 max pool after the stage's ReLU
};

struct ConvNetSpec {
  std::vector<ConvStage> stages;
  std::vector<int> hidden;   // widths of the linear layers before the output layer (each with ReLU)
  bool batch_norm = false;   // conv (no bias) -> BatchNorm2d -> ReLU (one BatchNormReLU) instead of conv -> ReLU
};

// Gray 1 x height x width in, num_outputs out. Spatial sizes are tracked so that the first linear
// layer gets the right input width; an input too small for the stages is refused.
std::unique_ptr<Sequential> make_conv_net(const ConvNetSpec& spec, int height, int width, int num_outputs, Rng& rng);

// Nose tip, gray 1x60x80: three conv+ReLU+maxpool stages (12, 24, 32 channels; kernels 5, 5, 3),
// then linear->128, ReLU, linear->num_outputs.
std::unique_ptr<Sequential> make_nose_net(Rng& rng, int height = 60, int width = 80, int num_outputs = 2);

// 58 points, gray 1x120x160: five conv(k, pad k/2)+ReLU+maxpool stages (16, 32, 64, 128, 256 channels;
// kernels 7, 5, 3, 3, 3), then linear->512, ReLU, linear->num_outputs.
std::unique_ptr<Sequential> make_face_net(Rng& rng, int height = 120, int width = 160, int num_outputs = 116);

}  // namespace keynet
