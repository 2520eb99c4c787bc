#include "apps/common/ibug_app.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/common/figures.h"
#include "data/ibug.h"
#include "layers/checkpoint.h"
#include "layers/resnet.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kEvalBatch = 32;
constexpr const char* kArchitecture = "resnet18";

std::string ibug_dir(const std::string& data_flag) { return find_data_dir(data_flag, "ibug_300w") + "/ibug_300w"; }

std::vector<int> mirror_permutation(const std::string& dir) {
  return data::read_mirror_permutation(dir + "/mirror_permutation_68.txt", data::kIbugPoints);
}

// The photo a face was cut from: "afw/1051618982_2.jpg" -> "afw/1051618982".
std::string source_photo(const std::string& image_path) {
  const fs::path path(image_path);
  static const std::regex face_suffix("_[0-9]+$");
  return (path.parent_path().filename() / std::regex_replace(path.stem().string(), face_suffix, "")).string();
}

struct TrainValidation {
  std::vector<data::LandmarkRecord> train, validation;
};

// A seeded choice of whole source photos, taken until they hold `fraction` of the faces.
TrainValidation split_by_photo(const std::vector<data::LandmarkRecord>& records, double fraction, uint64_t seed) {
  std::vector<std::string> photos;
  std::map<std::string, int> faces_of;
  for (const data::LandmarkRecord& r : records)
    if (faces_of[source_photo(r.image_path)]++ == 0) photos.push_back(source_photo(r.image_path));
  Rng rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (size_t i = photos.size(); i > 1; --i) std::swap(photos[i - 1], photos[rng.below(i)]);
  std::map<std::string, bool> held_out;
  size_t taken = 0;
  for (const std::string& photo : photos) {
    if (static_cast<double>(taken) >= fraction * static_cast<double>(records.size())) break;
    held_out[photo] = true;
    taken += static_cast<size_t>(faces_of[photo]);
  }
  TrainValidation split;
  for (const data::LandmarkRecord& r : records)
    (held_out.count(source_photo(r.image_path)) ? split.validation : split.train).push_back(r);
  return split;
}

data::SampleOptions sample_options(const IbugRecipe& recipe, int size, double enlarge, const std::vector<int>& mirror) {
  data::SampleOptions options;
  options.width = options.height = size;
  options.framing = data::Framing::FaceBox;
  options.crop_enlarge = enlarge;
  options.augment = recipe.augment_options;
  options.mirror_permutation = mirror;  // used only for augmented samples
  return options;
}

void cache(data::KeypointDataset& set) {
  const auto failed = set.cache_images(2);
  KEYNET_CHECK(failed.empty(), failed.empty() ? "" : failed.front().what, ": ", failed.empty() ? "" : failed.front().reason);
}

train::ModelCard model_card(const IbugRecipe& recipe, int size, double enlarge) {
  train::ModelCard card;
  card.app = recipe.app;
  card.architecture = kArchitecture;
  card.input_width = card.input_height = size;
  card.num_points = data::kIbugPoints;
  std::ostringstream framing;
  framing << "square crop of side max(box w, h) * " << enlarge << " about the face box's centre, resized";
  card.framing = framing.str();
  return card;
}

std::vector<double> per_face_nme(const train::Predictions& p) {
  std::vector<double> nme;
  for (size_t i = 0; i < p.predicted.size(); ++i) nme.push_back(train::face_nme_percent(p.predicted[i], p.truth[i]));
  return nme;
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

// ---------------------------------------------------------------- train

struct TrainCommand {
  TrainFlags flags;
  std::string loss;
  int size = 0;
  double crop_enlarge = 0, weight_decay = 0;
  int warmup_epochs = 0;
  bool test_time_mirror = true;
};

void train_command(const IbugRecipe& recipe, const TrainCommand& command) {
  const TrainFlags& flags = command.flags;
  const Device device = train::resolve_device(flags.device);
  const std::string dir = ibug_dir(flags.data);
  const std::vector<int> mirror = mirror_permutation(dir);

  const TrainValidation split =                                                                      // data
      split_by_photo(data::read_dlib_xml(dir + "/labels_ibug_300W_train.xml", data::kIbugPoints),
                     recipe.validation_fraction, flags.seed);
  const data::SampleOptions options = sample_options(recipe, command.size, command.crop_enlarge, mirror);
  data::KeypointDataset train_set(split.train, options), validation_set(split.validation, options);
  cache(train_set);
  cache(validation_set);

  Rng init(flags.seed);                                                                              // model
  ResNet18 model(1, 2 * data::kIbugPoints, init);
  auto loss = train::make_loss(command.loss);                                                        // loss
  Adam adam(model, {.lr = flags.lr, .weight_decay = command.weight_decay, .decoupled_weight_decay = true});
  train::place(model, *loss, adam, device, parse_impl(flags.impl));

  data::DataLoader loader(train_set, {.batch_size = flags.batch, .seed = flags.seed, .drop_last = true, .augment = true});
  train::RunFolder run(flags.out);
  if (!flags.resume) save_loader_samples(run.figure("loader_samples.png"), loader, 16, 8);

  train::ModelCard card = model_card(recipe, command.size, command.crop_enlarge);
  card.commit = train::source_commit();
  card.recipe = {{"train_faces", std::to_string(split.train.size())},
                 {"validation_faces", std::to_string(split.validation.size())},
                 {"epochs", std::to_string(flags.epochs)}, {"lr", std::to_string(flags.lr)},
                 {"batch", std::to_string(flags.batch)}, {"seed", std::to_string(flags.seed)},
                 {"loss", command.loss}, {"schedule", flags.schedule},
                 {"warmup_epochs", std::to_string(command.warmup_epochs)},
                 {"weight_decay", std::to_string(command.weight_decay)},
                 {"test_time_mirror", command.test_time_mirror ? "on" : "off"}};
  train::FitOptions fit{.epochs = flags.epochs,
                        .lr = flags.lr,
                        .schedule = {train::parse_schedule(flags.schedule), command.warmup_epochs,
                                     recipe.final_lr_fraction},
                        .device = device,
                        .resume = flags.resume,
                        .metric_name = "val_nme_percent"};
  train::Trainer trainer(model, *loss, adam, run, card, fit);
  const std::vector<int> tta = command.test_time_mirror ? mirror : std::vector<int>{};
  auto validate = [&] {
    const train::Predictions p = train::predict_dataset(model, *loss, validation_set, kEvalBatch, device, tta);
    return train::Validation{p.loss, mean(per_face_nme(p))};
  };
  const std::vector<train::EpochRecord> log = trainer.fit(loader, validate);                      // training loop

  const train::Predictions final_predictions =
      train::predict_dataset(model, *loss, validation_set, kEvalBatch, device, tta);
  const double nme = mean(per_face_nme(final_predictions));
  double seconds = 0, first_below_6_4 = -1;
  for (const train::EpochRecord& r : log) {
    seconds += r.seconds;
    if (first_below_6_4 < 0 && r.val_metric < 6.4) first_below_6_4 = seconds;
  }
  run.update_metrics({{"app", recipe.app},
                      {"device", to_string(device)},
                      {"commit", card.commit},
                      {"train_seconds", seconds},
                      {"seconds_until_validation_nme_below_6.4", first_below_6_4},
                      {"epochs", flags.epochs},
                      {"validation", {{"nme_percent", nme}, {"faces", final_predictions.predicted.size()}}}});
  save_training_curves(run.figure("training_curves.png"), log, "validation NME (%)");              // figures
  save_best_and_worst(run.figure("validation_best_and_worst.png"), final_predictions,
                      per_face_nme(final_predictions), 3, 240);
  std::printf("%s: validation (%zu faces) after %d epochs: NME %.3f%%; training took %s\n", recipe.app.c_str(),
              final_predictions.predicted.size(), flags.epochs, nme, train::format_duration(seconds).c_str());
}

}  // namespace

int run_ibug_app(int argc, char** argv, const IbugRecipe& recipe) {
  CLI::App app{recipe.summary, recipe.app};
  app.require_subcommand(1);

  TrainCommand train{recipe.defaults, recipe.loss, recipe.input_size, recipe.crop_enlarge, recipe.weight_decay,
                     recipe.warmup_epochs, recipe.test_time_mirror};
  CLI::App* train_cli = app.add_subcommand(
      "train", "train on labels_ibug_300W_train.xml, validating on a seeded tenth of its photos; writes --out");
  add_train_flags(*train_cli, train.flags);
  train_cli->add_option("--loss", train.loss, "mse or l1, on targets normalised to [-1, 1]")
      ->check(CLI::IsMember({"mse", "l1"}))
      ->capture_default_str();
  train_cli->add_option("--size", train.size, "network input side (square, gray)")
      ->check(CLI::Range(32, 1024))
      ->capture_default_str();
  train_cli->add_option("--crop-enlarge", train.crop_enlarge, "crop side over the face box's larger side")
      ->check(finite_number() & CLI::Range(1.0, 3.0))
      ->capture_default_str();
  train_cli->add_option("--weight-decay", train.weight_decay, "AdamW's decoupled weight decay")
      ->check(finite_number() & CLI::Range(0.0, 1.0))
      ->capture_default_str();
  train_cli->add_option("--warmup", train.warmup_epochs, "epochs of linear learning-rate warm-up")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  train_cli->add_option("--test-time-mirror", train.test_time_mirror,
                        "validate on each face and its mirror image, averaged (recorded in the model file)")
      ->capture_default_str();
  train_cli->callback([&] { train_command(recipe, train); });
  return run_cli(app, argc, argv);
}

}  // namespace keynet::apps
