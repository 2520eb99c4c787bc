#include "apps/common/imm_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "data/imm.h"
#include "data/landmarks.h"
#include "io/checkpoint.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace fs = std::filesystem;

namespace {

// The smallest photo an IMM network reads: below it a face is a few pixels wide.
constexpr int kImmMinHeight = 60;

// A subset of a face's 58 points (all of them when the list is empty).
std::vector<data::Point> select_points(const std::vector<data::Point>& all, const std::vector<int>& points) {
  if (points.empty()) return all;
  std::vector<data::Point> chosen;
  for (int i : points) chosen.push_back(all.at(i));
  return chosen;
}

}  // namespace

InputSize parse_size(const std::string& text) {
  InputSize size;
  char x = 0;
  std::istringstream in(text);
  in >> size.width >> x >> size.height;
  KEYNET_CHECK(in && x == 'x' && in.peek() == EOF && size.width > 0 && size.height > 0, "--size: expected WxH, got '",
               text, "'");
  return size;
}

std::vector<int> learned_points(const ImmRecipe& recipe, bool auxiliary_points) {
  return auxiliary_points ? std::vector<int>{} : recipe.points;
}

int num_points(const std::vector<int>& points) {
  return points.empty() ? data::kImmPoints : static_cast<int>(points.size());
}

train::Predictions reported_points(train::Predictions p, const ImmRecipe& recipe, bool auxiliary_points) {
  if (!auxiliary_points || recipe.points.empty()) return p;
  for (auto* faces : {&p.predicted, &p.truth})
    for (train::Points& points : *faces) points = select_points(points, recipe.points);
  return p;
}

std::vector<int> mirror_permutation(const std::vector<int>& points) {
  const std::vector<int> full = data::imm_mirror_permutation();
  if (points.empty()) return full;
  std::vector<int> subset;
  for (int i : points) {
    const auto at = std::find(points.begin(), points.end(), full[i]);
    KEYNET_CHECK(at != points.end(), "mirroring: point ", i, "'s mirror partner ", full[i], " is not predicted");
    subset.push_back(static_cast<int>(at - points.begin()));
  }
  return subset;
}

data::SampleOptions sample_options(const ImmRecipe& recipe, const std::vector<int>& points, InputSize size,
                                   bool augment) {
  data::SampleOptions options;
  options.width = size.width;
  options.height = size.height;
  options.framing = data::Framing::WholeImage;
  if (augment) {
    options.augment = recipe.augment_options;
    options.mirror_permutation = mirror_permutation(points);
  }
  return options;
}

ImmData load_imm(const ImmRecipe& recipe, const std::vector<int>& points, const std::string& data_flag,
                 const std::string& split, InputSize size, bool augment) {
  const std::string dir = find_data_dir(data_flag, "imm_face_db") + "/imm_face_db";
  const data::ImmSplit shapes = data::split_imm(data::read_imm_dir(dir), split);
  KEYNET_CHECK(!shapes.train.empty() && !shapes.validation.empty(), dir, ": the ", split, " split has ",
               shapes.train.size(), " training and ", shapes.validation.size(),
               " validation faces; it needs IMM's persons ", split == "final" ? "1-40" : "1-32",
               " (is the folder complete?)");
  auto records = [&](const std::vector<data::ImmShape>& side) {
    std::vector<data::LandmarkRecord> result;
    for (const data::ImmShape& shape : side) {
      result.push_back(data::to_record(shape));
      result.back().points = select_points(result.back().points, points);
    }
    return result;
  };
  ImmData result{data::KeypointDataset(records(shapes.train), sample_options(recipe, points, size, augment)),
                 data::KeypointDataset(records(shapes.validation), sample_options(recipe, points, size, false))};
  // The photos are kept box-averaged to about twice the network's input, so that a sample's warp
  // (augmentation included) reads a small image.
  const int reduce = std::max(1, std::min(data::kImmWidth / size.width, data::kImmHeight / size.height) / 2);
  for (data::KeypointDataset* set : {&result.train, &result.validation}) {
    const auto failed = set->cache_images(2, reduce);
    KEYNET_CHECK(failed.empty(), failed.empty() ? "" : failed.front().what, ": ",
                 failed.empty() ? "" : failed.front().reason);
  }
  return result;
}

std::unique_ptr<Sequential> build_model(const ImmRecipe& recipe, const std::string& architecture, InputSize size,
                                        int outputs, uint64_t seed) {
  const auto spec = recipe.architectures.find(architecture);
  KEYNET_CHECK(spec != recipe.architectures.end(), recipe.app, ": unknown architecture '", architecture, "'");
  Rng rng(seed);
  return make_conv_net(spec->second, size.height, size.width, outputs, rng);
}

train::ModelCard model_card(const ImmRecipe& recipe, const std::string& architecture, InputSize size, int learned) {
  train::ModelCard card;
  card.app = recipe.app;
  card.architecture = architecture;
  card.input_width = size.width;
  card.input_height = size.height;
  card.num_points = learned;
  card.framing = "whole image resized to the input (IMM's 640x480 photos)";
  return card;
}

nlohmann::json imm_metrics(const train::Predictions& p) {
  return {{"mse_normalized", train::normalized_mse(p.predicted, p.truth, data::kImmWidth, data::kImmHeight)},
          {"mean_point_distance_px", train::mean_point_distance(p.predicted, p.truth)},
          {"faces", p.predicted.size()}};
}

std::vector<double> per_face_distance(const train::Predictions& p) {
  std::vector<double> errors;
  for (size_t i = 0; i < p.predicted.size(); ++i)
    errors.push_back(train::mean_point_distance({p.predicted[i]}, {p.truth[i]}));
  return errors;
}

std::string csv_image_name(const std::string& image) { return fs::path(image).filename().string(); }

ImmModel load_imm_model(const ImmRecipe& recipe, const std::string& path, Device device,
                        const std::string& test_time_mirror) {
  KEYNET_CHECK(fs::exists(path), path, ": no such model file");
  ImmModel loaded;
  const SafetensorsFile file = read_safetensors(path);  // read once: the card decides what to build
  loaded.card = train::ModelCard::from_metadata(file.metadata, path);
  loaded.size = {loaded.card.input_width, loaded.card.input_height};
  const auto auxiliary = loaded.card.recipe.find("auxiliary_points");
  loaded.auxiliary_points = auxiliary != loaded.card.recipe.end() && auxiliary->second == "on";
  loaded.learned = learned_points(recipe, loaded.auxiliary_points);
  const int num_learned = num_points(loaded.learned);
  train::check_card(loaded.card, model_card(recipe, loaded.card.architecture, loaded.size, num_learned), path);
  bool known_size = false;
  for (const std::string& s : recipe.sizes) {
    const InputSize allowed = parse_size(s);
    known_size |= allowed.width == loaded.size.width && allowed.height == loaded.size.height;
  }
  KEYNET_CHECK(known_size, path, ": input size ", loaded.size.width, "x", loaded.size.height, " is not one ",
               recipe.app, " takes");
  loaded.model = build_model(recipe, loaded.card.architecture, loaded.size, 2 * num_learned, 0);
  load_module(*loaded.model, file, path);
  to_device(*loaded.model, device);
  loaded.model->fold_batch_norms();  // inference only: one pass fewer per convolution
  if (use_test_time_mirror(test_time_mirror, loaded.card.recipe)) loaded.mirror = mirror_permutation(loaded.learned);
  return loaded;
}

train::Points predict_points(const ImmRecipe& recipe, ImmModel& loaded, const data::Image& image, Device device) {
  const train::Points learned =
      train::predict_image(*loaded.model, image, sample_options(recipe, loaded.learned, loaded.size, false),
                           loaded.card.num_points, device, loaded.mirror);
  return loaded.auxiliary_points ? select_points(learned, recipe.points) : learned;
}

void check_imm_framing(const ImmRecipe& recipe, const data::Image& image, const std::string& image_name) {
  const double aspect = static_cast<double>(image.width) / image.height;
  const double imm_aspect = static_cast<double>(data::kImmWidth) / data::kImmHeight;
  KEYNET_CHECK(std::abs(aspect / imm_aspect - 1) <= 0.05 && image.height >= kImmMinHeight, image_name, ": ",
               image.width, "x", image.height, " is not framed as IMM's photos are (4:3, at least ", kImmMinHeight,
               " pixels high, one face filling about half the height); the ", recipe.app,
               " model reads the whole image. Use ibug_landmarks (or face_morph --points auto) for other photos");
}

std::vector<data::Point> detect_imm_points(const ImmRecipe& recipe, const data::Image& image,
                                           const std::string& image_name, const std::string& model_path) {
  check_imm_framing(recipe, image, image_name);
  static std::map<std::string, ImmModel> loaded_models;
  const std::string path = model_path.empty() ? default_model_path(recipe.app) : model_path;
  const Device device = train::resolve_device("auto");
  auto at = loaded_models.find(path);
  if (at == loaded_models.end()) at = loaded_models.emplace(path, load_imm_model(recipe, path, device, "model")).first;
  return predict_points(recipe, at->second, image, device);
}

}  // namespace keynet::apps
