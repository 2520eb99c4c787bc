// What the IMM apps' commands share below the command line: the network input size, which of IMM's
// 58 points a network learns and reports, the data split into training and validation faces, the
// network a recipe names, and a model file loaded back with the checks that it is this app's.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/common/imm_app.h"
#include "data/dataset.h"
#include "layers/module.h"
#include "train/evaluate.h"
#include "train/model_file.h"

namespace keynet::apps {

struct InputSize {
  int width = 0, height = 0;
};

// "WxH", e.g. "160x120".
InputSize parse_size(const std::string& text);

// The points the network learns: the recipe's, or all 58 when it also learns the others as auxiliary
// targets. An empty list means all 58.
std::vector<int> learned_points(const ImmRecipe& recipe, bool auxiliary_points);
int num_points(const std::vector<int>& points);

// The recipe's points out of predictions of all 58 (a network with auxiliary points); unchanged otherwise.
train::Predictions reported_points(train::Predictions p, const ImmRecipe& recipe, bool auxiliary_points);

// The mirror relabelling restricted to `points`; every point's mirror partner must be among them.
std::vector<int> mirror_permutation(const std::vector<int>& points);

// How a photo becomes a network input: the whole image resized, augmented when `augment`.
data::SampleOptions sample_options(const ImmRecipe& recipe, const std::vector<int>& points, InputSize size,
                                   bool augment);

struct ImmData {
  data::KeypointDataset train, validation;
};

// The split's training and validation faces (every file read and decoded now, so a bad one is named
// before training starts), with `points` as targets.
ImmData load_imm(const ImmRecipe& recipe, const std::vector<int>& points, const std::string& data_flag,
                 const std::string& split, InputSize size, bool augment);

std::unique_ptr<Sequential> build_model(const ImmRecipe& recipe, const std::string& architecture, InputSize size,
                                        int outputs, uint64_t seed);

// `learned`: the number of points the network outputs (all 58 when it learns auxiliary points).
train::ModelCard model_card(const ImmRecipe& recipe, const std::string& architecture, InputSize size, int learned);

// The course's metrics on predictions in the 640x480 originals' pixels: normalised MSE, mean point
// distance, faces.
nlohmann::json imm_metrics(const train::Predictions& p);
std::vector<double> per_face_distance(const train::Predictions& p);
// predictions/*.csv name a face by its image's file name.
std::string csv_image_name(const std::string& image);

// A model file built into its architecture and loaded, refused when it is another app's or of an
// input size the recipe does not take.
struct ImmModel {
  std::unique_ptr<Sequential> model;
  train::ModelCard card;
  InputSize size;
  std::vector<int> learned;  // the points the network outputs (empty: all 58)
  bool auxiliary_points = false;
  std::vector<int> mirror;   // test-time mirroring, as the model was validated (or as --test-time-mirror says)
};

ImmModel load_imm_model(const ImmRecipe& recipe, const std::string& path, Device device,
                           const std::string& test_time_mirror);

// The recipe's points on one whole image, in its pixels.
train::Points predict_points(const ImmRecipe& recipe, ImmModel& loaded, const data::Image& image, Device device);

}  // namespace keynet::apps
