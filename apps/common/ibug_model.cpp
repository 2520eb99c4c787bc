#include "apps/common/ibug_model.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "data/ibug.h"
#include "data/landmarks.h"
#include "io/checkpoint.h"
#include "layers/losses.h"
#include "train/metrics.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace fs = std::filesystem;

namespace {

constexpr int kEvalBatch = 32;
constexpr double kFailureNme = 8.0;  // percent: the 300-W failure threshold

void cache(data::KeypointDataset& set) {
  const auto failed = set.cache_images(2);
  KEYNET_CHECK(failed.empty(), failed.empty() ? "" : failed.front().what, ": ", failed.empty() ? "" : failed.front().reason);
}

}  // namespace

data::SampleOptions sample_options(const IbugRecipe& recipe, int size, double enlarge, const std::vector<int>& mirror) {
  data::SampleOptions options;
  options.width = options.height = size;
  options.framing = data::Framing::FaceBox;
  options.crop_enlarge = enlarge;
  options.augment = recipe.augment_options;
  // the shift is the recipe's fraction of the crop at any --size (8 px of 160 is 5%)
  options.augment.max_shift_px = recipe.augment_options.max_shift_px * size / recipe.input_size;
  options.mirror_permutation = mirror;  // used only for augmented samples
  return options;
}

std::unique_ptr<ResNet18> build_ibug_network(const std::string& architecture, Rng& rng, const std::string& source) {
  return std::make_unique<ResNet18>(1, 2 * data::kIbugPoints, rng, resnet18_head(architecture, source));
}

train::ModelCard model_card(const IbugRecipe& recipe, const std::string& architecture, int size, double enlarge) {
  train::ModelCard card;
  card.app = recipe.app;
  card.architecture = architecture;
  card.input_width = card.input_height = size;
  card.num_points = data::kIbugPoints;
  std::ostringstream framing;
  framing << "square crop of side max(box w, h) * " << enlarge << " about the face box's centre, resized";
  card.framing = framing.str();
  return card;
}

IbugData load_ibug_training(const IbugRecipe& recipe, const std::string& data_flag, uint64_t split_seed,
                            const data::SampleOptions& options) {
  const std::string labels = find_data_dir(data_flag, "ibug_300w") + "/ibug_300w/" + kIbugTrainLabels;
  const data::PhotoSplit split =
      data::split_by_photo(data::read_dlib_xml(labels, data::kIbugPoints), recipe.validation_fraction, split_seed);
  KEYNET_CHECK(!split.train.empty() && !split.validation.empty(), labels, ": ", split.train.size(),
               " training and ", split.validation.size(),
               " validation faces; the XML needs labelled faces from several photos");
  IbugData data{data::KeypointDataset(split.train, options), data::KeypointDataset(split.validation, options),
                labels};
  cache(data.train);
  cache(data.validation);
  return data;
}

double mean_nme_percent(const train::Predictions& p) {
  const std::vector<double> nme = train::per_face_nme_percent(p.predicted, p.truth);
  double sum = 0;
  for (double v : nme) sum += v;
  return nme.empty() ? 0 : sum / static_cast<double>(nme.size());
}

nlohmann::json landmark_metrics(const train::Predictions& p, const std::vector<data::Affine>& to_original) {
  const std::vector<double> nme = train::per_face_nme_percent(p.predicted, p.truth);
  nlohmann::json metrics = {{"faces", nme.size()},
                            {"nme_percent", mean_nme_percent(p)},
                            {"failure_rate_percent", train::failure_rate_percent(nme, kFailureNme)},
                            {"auc_8", train::ced_auc(nme, kFailureNme)},
                            {"kaggle_mae_stored_px", train::mean_absolute_error(p.predicted, p.truth)}};
  if (!to_original.empty()) {
    std::vector<train::Points> predicted, truth;
    for (size_t i = 0; i < p.predicted.size(); ++i) {
      predicted.push_back(to_original[i].apply(p.predicted[i]));
      truth.push_back(to_original[i].apply(p.truth[i]));
    }
    metrics["kaggle_mae_original_px"] = train::mean_absolute_error(predicted, truth);
  }
  return metrics;
}

std::vector<data::Affine> to_original_photos(const std::string& labels, const train::Predictions& p) {
  const fs::path dir = fs::path(labels).parent_path();
  if (!fs::exists(dir / "crop_manifest.csv")) return {};
  const auto manifest = data::read_crop_manifest((dir / "crop_manifest.csv").string());
  std::vector<data::Affine> transforms;
  for (const std::string& image : p.images) {
    const auto entry = manifest.find(fs::path(image).lexically_relative(dir).generic_string());
    if (entry == manifest.end()) return {};
    transforms.push_back(data::crop_to_original(entry->second));
  }
  return transforms;
}

std::function<std::string(const std::string&)> xml_image_names(const std::string& labels) {
  const fs::path dir = fs::path(labels).parent_path();
  return [dir](const std::string& image) { return fs::path(image).lexically_relative(dir).generic_string(); };
}

IbugModel load_ibug_model(const IbugRecipe& recipe, const std::string& path, Device device,
                          const std::string& test_time_mirror) {
  KEYNET_CHECK(fs::exists(path), path, ": no such model file");
  IbugModel loaded;
  const SafetensorsFile file = read_safetensors(path);
  loaded.card = train::ModelCard::from_metadata(file.metadata, path);
  // The card's app, input size and points first (check_card does not read the framing), then the crop.
  train::check_card(loaded.card, model_card(recipe, loaded.card.architecture, loaded.card.input_width, 1.0), path);
  const double enlarge = train::framing_enlarge(loaded.card, path);
  KEYNET_CHECK(loaded.card.input_width == loaded.card.input_height, path, ": input ", loaded.card.input_width, "x",
               loaded.card.input_height, " is not square");
  Rng unused(0);
  loaded.model = build_ibug_network(loaded.card.architecture, unused, path);
  load_module(*loaded.model, file, path);
  to_device(*loaded.model, device);
  loaded.model->fold_batch_norms();  // inference only: one pass fewer per convolution
  loaded.framing = sample_options(recipe, loaded.card.input_width, enlarge, {});
  if (use_test_time_mirror(test_time_mirror, loaded.card.recipe)) loaded.mirror = data::ibug_mirror_permutation();
  return loaded;
}

train::Predictions predict_labels(IbugModel& loaded, const std::string& labels, Device device) {
  std::vector<data::LandmarkRecord> faces = data::read_dlib_xml(labels, data::kIbugPoints);
  KEYNET_CHECK(!faces.empty(), labels, ": no labelled faces (no <box> with its 68 <part>s under any <image>)");
  data::KeypointDataset set(std::move(faces), loaded.framing);
  L1Loss loss;  // predict_dataset also reports a loss, which eval and kaggle do not use
  return train::predict_dataset(*loaded.model, loss, set, kEvalBatch, device, loaded.mirror);
}

train::FaceFinderOptions finder_options(const IbugModel& loaded) {
  train::FaceFinderOptions options;
  options.framing = loaded.framing;
  options.num_points = data::kIbugPoints;
  options.mirror_permutation = loaded.mirror;
  return options;
}

std::string no_face_found(const std::string& image_name, const train::FoundFace& face,
                          const train::FaceFinderOptions& options) {
  char text[256];
  std::snprintf(text, sizeof text,
                ": no face found (the best of %d candidate boxes moves its points by %.1f%% of their eye distance when "
                "the crop moves; a face: at most %.1f%%)",
                face.candidates, face.inconsistency_percent, options.max_inconsistency_percent);
  return image_name + text;
}

std::vector<data::Point> detect_landmarks(const IbugRecipe& recipe, const data::Image& image,
                                          const std::string& image_name, const std::string& model_path) {
  static std::map<std::string, IbugModel> loaded_models;
  const std::string path = model_path.empty() ? default_model_path(recipe.app) : model_path;
  const Device device = train::resolve_device("auto");
  auto at = loaded_models.find(path);
  if (at == loaded_models.end()) at = loaded_models.emplace(path, load_ibug_model(recipe, path, device, "model")).first;
  const train::FaceFinderOptions options = finder_options(at->second);
  const train::FoundFace face = train::find_face(*at->second.model, image, options, device);
  KEYNET_CHECK(face.found, no_face_found(image_name, face, options));
  return face.points;
}

}  // namespace keynet::apps
