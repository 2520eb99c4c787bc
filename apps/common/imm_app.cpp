#include "apps/common/imm_app.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/common/figures.h"
#include "apps/common/keypoint_files.h"
#include "apps/common/plots.h"
#include "apps/common/predict_batch.h"
#include "data/draw.h"
#include "data/imm.h"
#include "io/checkpoint.h"
#include "layers/conv2d.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kValidationBatch = 48;
// The smallest photo an IMM network reads: below it a face is a few pixels wide.
constexpr int kImmMinHeight = 60;

constexpr const char* kSplitHelp =
    "final: train on persons 1-32, validate on 33-40; dev: train on 1-28, validate on 29-32; foldK: "
    "validate on persons 8K-7..8K, train on the rest of 1-32";

struct InputSize {
  int width = 0, height = 0;
};

InputSize parse_size(const std::string& text) {
  InputSize size;
  char x = 0;
  std::istringstream in(text);
  in >> size.width >> x >> size.height;
  KEYNET_CHECK(in && x == 'x' && in.peek() == EOF && size.width > 0 && size.height > 0, "--size: expected WxH, got '",
               text, "'");
  return size;
}

// The points the network learns: the recipe's, or all 58 when it learns the others as auxiliary
// targets (an empty list means all).
std::vector<int> learned_points(const ImmRecipe& recipe, bool auxiliary_points) {
  return auxiliary_points ? std::vector<int>{} : recipe.points;
}

int num_points(const std::vector<int>& points) {
  return points.empty() ? data::kImmPoints : static_cast<int>(points.size());
}

// A subset of a face's 58 points (all of them when the list is empty).
std::vector<data::Point> select_points(const std::vector<data::Point>& all, const std::vector<int>& points) {
  if (points.empty()) return all;
  std::vector<data::Point> chosen;
  for (int i : points) chosen.push_back(all.at(i));
  return chosen;
}

// The recipe's points out of predictions of all 58 (a network with auxiliary points); unchanged otherwise.
train::Predictions reported_points(train::Predictions p, const ImmRecipe& recipe, bool auxiliary_points) {
  if (!auxiliary_points || recipe.points.empty()) return p;
  for (auto* faces : {&p.predicted, &p.truth})
    for (train::Points& points : *faces) points = select_points(points, recipe.points);
  return p;
}

// The mirror relabelling restricted to the chosen points; every chosen point's mirror partner must be
// chosen too.
std::vector<int> mirror_permutation(const std::vector<int>& points) {
  const std::vector<int> full = data::read_mirror_permutation(data::imm_mirror_permutation_path(), data::kImmPoints);
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

struct ImmData {
  data::KeypointDataset train, validation;
};

ImmData load_imm(const ImmRecipe& recipe, const std::vector<int>& points, const std::string& data_flag,
                 const std::string& split, InputSize size, bool augment) {
  const std::string dir = find_data_dir(data_flag, "imm_face_db") + "/imm_face_db";
  // Every file is read (and its image decoded) before training starts, so a bad one is named now.
  const std::vector<data::ImmShape> shapes = data::read_imm_dir(dir);
  std::vector<data::LandmarkRecord> train, validation;
  for (const data::ImmShape& shape : shapes) {
    const int side = data::imm_split_side(split, shape.person);
    if (side == 0) continue;
    data::LandmarkRecord record = data::to_record(shape);
    record.points = select_points(record.points, points);
    (side > 0 ? train : validation).push_back(std::move(record));
  }
  KEYNET_CHECK(!train.empty() && !validation.empty(), dir, ": the ", split, " split has ", train.size(),
               " training and ", validation.size(), " validation faces; it needs IMM's persons ",
               split == "final" ? "1-40" : "1-32", " (is the folder complete?)");
  ImmData result{data::KeypointDataset(train, sample_options(recipe, points, size, augment)),
                 data::KeypointDataset(validation, sample_options(recipe, points, size, false))};
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

// `learned`: the number of points the network outputs (all 58 when it learns auxiliary points).
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

// The course's metrics on a set of predictions in the 640x480 originals' pixels.
json imm_metrics(const train::Predictions& p) {
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

void write_predictions_csv(const std::string& path, const train::Predictions& p) {
  train::write_predictions_csv(path, p, [](const std::string& image) { return fs::path(image).filename().string(); });
}

// ---------------------------------------------------------------- train

struct TrainCommand {
  TrainFlags flags;
  std::string split = "final", architecture, loss, size;
  double weight_decay = 0;
  int warmup_epochs = 0;
  bool augment = true;
  bool test_time_mirror = false;
  bool auxiliary_points = false;
  double augment_strength = 1;
};

// The recipe's augmentation with every range (rotation, shift, scale, brightness, contrast) times `strength`.
data::AugmentOptions scaled_augmentation(data::AugmentOptions options, double strength) {
  options.max_rotation_deg *= strength;
  options.max_shift_px *= strength;
  options.min_scale = 1 - (1 - options.min_scale) * strength;
  options.max_scale = 1 + (options.max_scale - 1) * strength;
  options.box_jitter *= strength;
  options.max_brightness *= strength;
  options.min_contrast = 1 - (1 - options.min_contrast) * strength;
  options.max_contrast = 1 + (options.max_contrast - 1) * strength;
  return options;
}

struct TrainResult {
  std::vector<train::EpochRecord> log;
  json validation;  // metrics of the model at the end of training
};

TrainResult train_run(ImmRecipe recipe, const TrainCommand& command, bool figures) {
  recipe.augment_options = scaled_augmentation(recipe.augment_options, command.augment_strength);
  const TrainFlags& flags = command.flags;
  const InputSize size = parse_size(command.size);
  const Device device = train::resolve_device(flags.device);

  const std::vector<int> learned = learned_points(recipe, command.auxiliary_points);
  const int num_learned = num_points(learned);
  ImmData data = load_imm(recipe, learned, flags.data, command.split, size, command.augment);               // data
  KEYNET_CHECK(static_cast<size_t>(flags.batch) <= data.train.size(), "--batch ", flags.batch, " is larger than the ",
               data.train.size(), " training faces of the ", command.split, " split; pass a smaller --batch");
  auto model = build_model(recipe, command.architecture, size, 2 * num_learned, flags.seed);        // model
  auto loss = train::make_loss(command.loss);                                                       // loss
  Adam adam(*model, {.weight_decay = command.weight_decay, .decoupled_weight_decay = true});
  train::place(*model, *loss, adam, device, parse_impl(flags.impl));

  train::ModelCard card = model_card(recipe, command.architecture, size, num_learned);
  card.commit = train::source_commit();
  card.recipe = {{"split", command.split}, {"epochs", std::to_string(flags.epochs)},
                 {"lr", std::to_string(flags.lr)}, {"batch", std::to_string(flags.batch)},
                 {"seed", std::to_string(flags.seed)}, {"loss", command.loss},
                 {"schedule", flags.schedule}, {"warmup_epochs", std::to_string(command.warmup_epochs)},
                 {"weight_decay", std::to_string(command.weight_decay)},
                 {"augment", command.augment ? "on" : "off"},
                 {"test_time_mirror", command.test_time_mirror ? "on" : "off"},
                 {"auxiliary_points", command.auxiliary_points ? "on" : "off"},
                 {"augment_strength", std::to_string(command.augment_strength)},
                 {"data_checksum", data::records_checksum(data.train.records()) + "/" +
                                       data::records_checksum(data.validation.records())}};
  const auto run_lock = train::claim_run_folder(flags.out, {flags.resume, flags.force}, [&](const std::string& last) {
    const train::ModelCard found = train::read_card(last);
    train::check_card(found, card, last);
    train::check_same_recipe(found, card, last);
  });
  train::RunFolder run(flags.out);
  data::LoaderOptions loader_options{.batch_size = flags.batch, .seed = flags.seed, .augment = command.augment};
  data::DataLoader loader(data.train, loader_options);
  if (figures && !flags.resume) save_loader_samples(run.figure("loader_samples.png"), loader, 16, 8);

  train::FitOptions fit{.epochs = flags.epochs,
                        .lr = flags.lr,
                        .schedule = {train::parse_schedule(flags.schedule), command.warmup_epochs,
                                     recipe.final_lr_fraction},
                        .device = device,
                        .resume = flags.resume,
                        .metric_name = "val_mse"};
  train::Trainer trainer(*model, *loss, adam, run, card, fit);
  const std::vector<int> mirror = command.test_time_mirror ? mirror_permutation(learned) : std::vector<int>{};
  auto validate = [&] {
    const train::Predictions p = reported_points(
        train::predict_dataset(*model, *loss, data.validation, kValidationBatch, device, mirror), recipe,
        command.auxiliary_points);
    return train::Validation{p.loss, train::normalized_mse(p.predicted, p.truth, data::kImmWidth, data::kImmHeight)};
  };
  TrainResult result;
  result.log = trainer.fit(loader, validate);                                                      // training loop

  // The model at the end of training (not the best epoch: picking it would look at the validation faces).
  const train::Predictions final_predictions = reported_points(
      train::predict_dataset(*model, *loss, data.validation, kValidationBatch, device, mirror), recipe,
      command.auxiliary_points);
  result.validation = imm_metrics(final_predictions);
  double seconds = 0;
  for (const train::EpochRecord& r : result.log) seconds += r.seconds;
  run.update_metrics({{"app", recipe.app},
                      {"split", command.split},
                      {"device", to_string(device)},
                      {"commit", card.commit},
                      {"train_seconds", seconds},
                      {"epochs", flags.epochs},
                      {"validation", result.validation}});
  write_predictions_csv(run.prediction_file("validation.csv"), final_predictions);
  if (figures) {                                                                                   // figures
    save_training_curves(run.figure("training_curves.png"), result.log, "val_mse");
    save_best_and_worst(run.figure("best_and_worst.png"), final_predictions, per_face_distance(final_predictions), 2,
                        320);
    if (recipe.filter_figure) save_filter_grid(run.figure("first_layer_filters.png"), named_parameters(*model).front().second->value);
  }
  std::printf("%s: validation (%s split, %zu faces) after %d epochs: MSE %.4g, mean point distance %.3f px; "
              "training took %s\n",
              recipe.app.c_str(), command.split.c_str(), final_predictions.predicted.size(), flags.epochs,
              result.validation["mse_normalized"].get<double>(),
              result.validation["mean_point_distance_px"].get<double>(), train::format_duration(seconds).c_str());
  return result;
}

// ---------------------------------------------------------------- eval and predict

struct ModelCommand : ModelFlags {
  std::string data, split = "final", format = "csv";
  bool force = false;                     // predict: replace existing drawings
  bool allow_training_faces = false;      // eval: measure on faces the model trained on
  std::string out;                       // eval: a run folder for metrics.json (none by default)
  std::string drawn_out = "predictions";  // predict: where the images with their points go
  std::vector<std::string> images;
};

// Builds the architecture a model file names and loads it, refusing a file of another app.
struct LoadedModel {
  std::unique_ptr<Sequential> model;
  train::ModelCard card;
  InputSize size;
  std::vector<int> learned;  // the points the network outputs (empty: all 58)
  bool auxiliary_points = false;
  std::vector<int> mirror;   // test-time mirroring, as the model was validated
};

LoadedModel load_imm_model(const ImmRecipe& recipe, const std::string& path, Device device,
                           const std::string& test_time_mirror) {
  KEYNET_CHECK(fs::exists(path), path, ": no such model file");
  LoadedModel loaded;
  const SafetensorsFile file = read_safetensors(path);  // read once: the card decides what to build
  loaded.card = train::ModelCard::from_metadata(file.metadata, path);
  loaded.size = {loaded.card.input_width, loaded.card.input_height};
  const auto auxiliary = loaded.card.recipe.find("auxiliary_points");
  loaded.auxiliary_points = auxiliary != loaded.card.recipe.end() && auxiliary->second == "on";
  loaded.learned = learned_points(recipe, loaded.auxiliary_points);
  const int num_learned = num_points(loaded.learned);
  train::ModelCard expected = model_card(recipe, loaded.card.architecture, loaded.size, num_learned);
  train::check_card(loaded.card, expected, path);
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
  if (use_test_time_mirror(test_time_mirror, loaded.card.recipe)) loaded.mirror = mirror_permutation(loaded.learned);
  return loaded;
}

// The recipe's points on one whole image, in its pixels.
train::Points predict_points(const ImmRecipe& recipe, LoadedModel& loaded, const data::Image& image, Device device) {
  const train::Points learned =
      train::predict_image(*loaded.model, image, sample_options(recipe, loaded.learned, loaded.size, false),
                           loaded.card.num_points, device, loaded.mirror);
  return loaded.auxiliary_points ? select_points(learned, recipe.points) : learned;
}

// Refuses (unless allowed) to measure a model on persons it trained on: the split the model file
// records decides who trained, the eval split who is measured.
void check_not_training_faces(const train::ModelCard& card, const ModelCommand& command) {
  const auto recorded = card.recipe.find("split");
  if (recorded == card.recipe.end() || command.allow_training_faces) return;
  std::string overlap;
  for (int person = 1; person <= data::kImmPersons; ++person)
    if (data::imm_split_side(recorded->second, person) > 0 && data::imm_split_side(command.split, person) < 0)
      overlap += " " + std::to_string(person);
  KEYNET_CHECK(overlap.empty(), command.model, ": trained on the ", recorded->second, " split, so the ", command.split,
               " split's validation persons", overlap,
               " are faces it trained on and the numbers would mean nothing; eval the split it was validated on (--split ",
               recorded->second, "), or pass --allow-training-faces to measure them anyway");
}

void eval_command(const ImmRecipe& recipe, const ModelCommand& command) {
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  LoadedModel loaded = load_imm_model(recipe, command.model, device, command.test_time_mirror);
  check_not_training_faces(loaded.card, command);
  const auto lock = command.out.empty() ? nullptr : train::claim_eval_folder(command.out, recipe.app);
  const ImmData data = load_imm(recipe, loaded.learned, command.data, command.split, loaded.size, false);
  MSELoss loss;
  const train::Predictions p = reported_points(
      train::predict_dataset(*loaded.model, loss, data.validation, kValidationBatch, device, loaded.mirror), recipe,
      loaded.auxiliary_points);
  const json metrics = imm_metrics(p);
  std::printf("%s on the %s split's %zu validation faces: MSE %.4g, mean point distance %.3f px\n",
              command.model.c_str(), command.split.c_str(), p.predicted.size(),
              metrics["mse_normalized"].get<double>(), metrics["mean_point_distance_px"].get<double>());
  if (!command.out.empty()) {
    train::RunFolder run(command.out);
    run.update_metrics({{"app", recipe.app},
                        {"eval", {{"model", command.model}, {"split", command.split}, {"validation", metrics}}}});
    write_predictions_csv(run.prediction_file("eval_" + command.split + ".csv"), p);
  }
}

void predict_command(const ImmRecipe& recipe, const ModelCommand& command) {
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  LoadedModel loaded = load_imm_model(recipe, command.model, device, command.test_time_mirror);
  const PredictBatch batch{.app = recipe.app,
                           .images = command.images,
                           .format = command.format,
                           .drawn_folder = command.drawn_out,
                           .drawn_flag = "--out",
                           .other_inputs = {command.model},
                           .force = command.force};
  predict_images(batch, [&](const data::Image& image, const std::string& path) {
    check_imm_framing(recipe, image, path);
    return predict_points(recipe, loaded, image, device);
  });
}

// ---------------------------------------------------------------- sweep

void sweep_command(const ImmRecipe& recipe, TrainCommand base) {
  base.flags.epochs = recipe.sweep_epochs;
  const std::string root = base.flags.out;
  Panel by_lr{"Learning rate (batch " + std::to_string(base.flags.batch) + ")", "epoch", "validation MSE", true, {}};
  Panel by_batch{"Batch size (lr " + std::to_string(base.flags.lr) + ")", "epoch", "validation MSE", true, {}};
  json summary;
  auto run_one = [&](TrainCommand command, const std::string& name, Panel& panel) {
    command.flags.out = root + "/" + name;
    std::fprintf(stderr, "sweep: %s\n", name.c_str());
    const TrainResult result = train_run(recipe, command, false);
    Series series{name, {}, {}};
    for (const train::EpochRecord& r : result.log) series.x.push_back(r.epoch), series.y.push_back(r.val_metric);
    panel.series.push_back(series);
    summary[name] = result.validation;
  };
  for (double lr : recipe.sweep_lrs) {
    TrainCommand command = base;
    command.flags.lr = lr;
    char name[32];
    std::snprintf(name, sizeof name, "lr %g", lr);
    run_one(command, name, by_lr);
  }
  for (int batch : recipe.sweep_batches) {
    TrainCommand command = base;
    command.flags.batch = batch;
    run_one(command, "batch " + std::to_string(batch), by_batch);
  }
  train::RunFolder run(root);
  plot_panels(run.figure("sweep.png"), {by_lr, by_batch});
  run.update_metrics({{"sweep", summary}, {"split", base.split}, {"epochs", recipe.sweep_epochs}});
}

}  // namespace

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
  static std::map<std::string, LoadedModel> loaded_models;
  const std::string path = model_path.empty() ? default_model_path(recipe.app) : model_path;
  const Device device = train::resolve_device("auto");
  auto at = loaded_models.find(path);
  if (at == loaded_models.end()) at = loaded_models.emplace(path, load_imm_model(recipe, path, device, "model")).first;
  return predict_points(recipe, at->second, image, device);
}

int run_imm_app(int argc, char** argv, const ImmRecipe& recipe) {
  CLI::App app{recipe.summary, recipe.app};
  app.require_subcommand(1);

  TrainCommand train_command;
  train_command.flags = recipe.defaults;
  train_command.architecture = recipe.architecture;
  train_command.loss = recipe.loss;
  train_command.size = recipe.sizes.front();
  train_command.weight_decay = recipe.weight_decay;
  train_command.warmup_epochs = recipe.warmup_epochs;
  train_command.augment = recipe.augment;
  train_command.test_time_mirror = recipe.test_time_mirror;
  train_command.auxiliary_points = recipe.auxiliary_points;
  TrainCommand sweep_command_flags = train_command;
  sweep_command_flags.split = "dev";
  sweep_command_flags.flags.out += "_sweep";
  auto add_recipe_flags = [&](CLI::App& command, TrainCommand& target) {
    add_train_flags(command, target.flags);
    command.add_option("--split", target.split, kSplitHelp)
        ->check(CLI::IsMember(data::kImmSplits))
        ->capture_default_str();
    std::vector<std::string> names;
    for (const auto& [name, spec] : recipe.architectures) names.push_back(name);
    command.add_option("--arch", target.architecture, "network variant")
        ->check(CLI::IsMember(names))
        ->capture_default_str();
    command.add_option("--loss", target.loss, "mse or l1, on targets normalised to [-1, 1]")
        ->check(CLI::IsMember({"mse", "l1"}))
        ->capture_default_str();
    command.add_option("--size", target.size, "network input WxH")
        ->check(CLI::IsMember(recipe.sizes))
        ->capture_default_str();
    command.add_option("--weight-decay", target.weight_decay, "AdamW's decoupled weight decay")
        ->check(finite_number() & CLI::Range(0.0, 1.0))
        ->capture_default_str();
    command.add_option("--warmup", target.warmup_epochs, "epochs of linear learning-rate warm-up")
        ->check(CLI::Range(0, 10000))
        ->capture_default_str();
    command.add_option("--test-time-mirror", target.test_time_mirror,
                       "validate and predict on each photo and its mirror image, averaging the two (the model "
                       "file records it, so eval and predict do the same)")
        ->capture_default_str();
    if (!recipe.points.empty())
      command.add_option("--auxiliary-points", target.auxiliary_points,
                         "the network also learns IMM's other points as auxiliary targets (only the app's own "
                         "points are reported; the model file records it)")
          ->capture_default_str();
    command.add_option("--augment-strength", target.augment_strength,
                       "every augmentation range (rotation, shift, scale, brightness, contrast) times this")
        ->check(finite_number() & CLI::Range(0.0, 4.0))
        ->capture_default_str();
    command.add_option("--augment", target.augment,
                       "augment the training faces (rotation, shift, scale, brightness, contrast, mirror)")
        ->capture_default_str();
  };

  CLI::App* train_cli = app.add_subcommand("train", "train a network; writes a run folder (--out)");
  add_recipe_flags(*train_cli, train_command);
  train_cli->callback([&] { train_run(recipe, train_command, true); });

  ModelCommand model_command;
  model_command.model = default_model_path(recipe.app);
  CLI::App* eval_cli = app.add_subcommand("eval", "measure a model on the validation faces (no augmentation)");
  add_model_flags(*eval_cli, model_command);
  add_data_flag(*eval_cli, model_command.data);
  eval_cli->add_option("--split", model_command.split, std::string("the split's validation faces; ") + kSplitHelp)
      ->check(CLI::IsMember(data::kImmSplits))
      ->capture_default_str();
  eval_cli->add_option("--out", model_command.out, "run folder to write metrics.json and predictions into");
  eval_cli->add_flag("--allow-training-faces", model_command.allow_training_faces,
                     "measure even when the split's validation persons are ones the model trained on");
  eval_cli->callback([&] { eval_command(recipe, model_command); });

  CLI::App* predict_cli = app.add_subcommand(
      "predict",
      "points on images framed as IMM's photos are: the whole image (640x480 in IMM, any size with a 4:3 "
      "aspect) holds one face, upright and centred, filling about half the height; the image is resized to "
      "the network's input as a whole");
  add_model_flags(*predict_cli, model_command);
  predict_cli->add_option("images", model_command.images, "image files (JPEG, PNG)")->required()->check(readable_file());
  predict_cli->add_flag("--force", model_command.force, "replace drawings already in the --out folder");
  predict_cli->add_option("--format", model_command.format, "points on stdout as csv or json")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  predict_cli->add_option("--out", model_command.drawn_out, "folder for the images with their points drawn")
      ->capture_default_str();
  predict_cli->callback([&] { predict_command(recipe, model_command); });

  if (!recipe.sweep_lrs.empty()) {
    CLI::App* sweep_cli = app.add_subcommand(
        "sweep", "validation curves for several learning rates and batch sizes (dev split by default)");
    add_recipe_flags(*sweep_cli, sweep_command_flags);
    sweep_cli->callback([&] { sweep_command(recipe, sweep_command_flags); });
  }
  return run_cli(app, argc, argv);
}

}  // namespace keynet::apps
