// The IMM keypoint apps (parts 1 and 2 of the course project) share their command line, data and
// outputs; an app states only its recipe (which points, input size, network, loss, optimizer
// settings, augmentation) and calls run_imm_app. Subcommands:
//   train    train on persons 1-32 (or the dev split), validate each epoch, figures and metrics.json
//   eval     a model file on the validation faces: the course's MSE and the mean error in pixels
//   predict  a model file on images framed like IMM's 640x480 photos: points as CSV or JSON, and PNGs
//   sweep    (when the recipe lists values) validation curves for several learning rates and batch sizes
#pragma once
#include <map>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/train_command.h"
#include "data/augment.h"
#include "data/image.h"
#include "layers/nets.h"

namespace keynet::apps {

struct ImmRecipe {
  std::string app;                 // the name model files and run folders carry
  std::string summary;             // first line of --help
  std::vector<int> points;         // IMM point indices the network predicts; empty: all 58
  std::vector<std::string> sizes;  // accepted "WxH" network inputs; the first is the default
  std::map<std::string, ConvNetSpec> architectures;
  std::string architecture;        // the default one
  TrainingSettings training;       // loss, weight decay, warm-up, augmentation on or off, test-time mirror
  bool auxiliary_points = false;   // the network also learns IMM's other points; only `points` are reported
  data::AugmentOptions augment_options;
  TrainFlags defaults;             // epochs, lr, batch, schedule, out, ...
  std::vector<double> sweep_lrs;   // empty: no sweep subcommand
  std::vector<int> sweep_batches;
  int sweep_epochs = 0;
  bool filter_figure = false;      // draw the first convolution's filters
};

int run_imm_app(int argc, char** argv, const ImmRecipe& recipe);

// Refuses, naming `image_name`, an image not framed as IMM's photos are: an aspect other than 4:3
// within 5%, or under 60 pixels high. predict and face_morph --points imm share this one rule.
void check_imm_framing(const ImmRecipe& recipe, const data::Image& image, const std::string& image_name);

// The recipe's points on a photo framed as IMM's are (the whole 4:3 image holds one upright face),
// found by the model at model_path (default: the recipe's shipped model in models/) on the default
// device. Refuses what check_imm_framing refuses. The model is loaded
// once per path.
std::vector<data::Point> detect_imm_points(const ImmRecipe& recipe, const data::Image& image,
                                           const std::string& image_name, const std::string& model_path = "");

}  // namespace keynet::apps
