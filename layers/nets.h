// The reference networks of the course project (see DESIGN.md "Models") built from our layers.
#pragma once
#include <memory>

#include "layers/resnet.h"

namespace keynet {

// Nose tip, gray 1x60x80: three conv+ReLU+maxpool stages (12, 24, 32 channels; kernels 5, 5, 3),
// then linear->128, ReLU, linear->num_outputs.
std::unique_ptr<Sequential> make_nose_net(Rng& rng, int height = 60, int width = 80, int num_outputs = 2);

// 58 points, gray 1x120x160: five conv(k, pad k/2)+ReLU+maxpool stages (16, 32, 64, 128, 256 channels;
// kernels 7, 5, 3, 3, 3), then linear->512, ReLU, linear->num_outputs.
std::unique_ptr<Sequential> make_face_net(Rng& rng, int height = 120, int width = 160, int num_outputs = 116);

}  // namespace keynet
