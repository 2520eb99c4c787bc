#include "apps/common/ibug_app.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/common/figures.h"
#include "apps/common/keypoint_files.h"
#include "apps/common/outputs.h"
#include "apps/common/plots.h"
#include "apps/common/predict_batch.h"
#include "data/draw.h"
#include "data/ibug.h"
#include "io/csv.h"
#include "io/checkpoint.h"
#include "layers/resnet.h"
#include "train/face_finder.h"
#include "train/model_file.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kEvalBatch = 32;
constexpr const char* kArchitecture = "resnet18";
constexpr double kFailureNme = 8.0;  // percent: the 300-W failure threshold
constexpr const char* kTrainLabels = "labels_ibug_300W_train.xml";

std::string ibug_dir(const std::string& data_flag) { return find_data_dir(data_flag, "ibug_300w") + "/ibug_300w"; }

std::vector<int> mirror_permutation() {
  return data::read_mirror_permutation(data::ibug_mirror_permutation_path(), data::kIbugPoints);
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
  return train::per_face_nme_percent(p.predicted, p.truth);
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
  uint64_t split_seed = 0;  // which photos validate, apart from --seed so that seeds share one validation set
};

void train_command(const IbugRecipe& recipe, const TrainCommand& command) {
  const TrainFlags& flags = command.flags;
  const Device device = train::resolve_device(flags.device);
  const std::string dir = ibug_dir(flags.data);
  const std::vector<int> mirror = mirror_permutation();

  const data::PhotoSplit split =                                                                      // data
      data::split_by_photo(data::read_dlib_xml(dir + "/" + kTrainLabels, data::kIbugPoints),
                     recipe.validation_fraction, command.split_seed);
  KEYNET_CHECK(!split.train.empty() && !split.validation.empty(), dir, "/", kTrainLabels, ": ", split.train.size(),
               " training and ", split.validation.size(), " validation faces; the XML needs labelled faces from "
               "several photos");
  KEYNET_CHECK(static_cast<size_t>(flags.batch) <= split.train.size(), "--batch ", flags.batch,
               " is larger than the ", split.train.size(), " training faces; pass a smaller --batch");
  const data::SampleOptions options = sample_options(recipe, command.size, command.crop_enlarge, mirror);
  data::KeypointDataset train_set(split.train, options), validation_set(split.validation, options);
  cache(train_set);
  cache(validation_set);

  Rng init(flags.seed);                                                                              // model
  ResNet18 model(1, 2 * data::kIbugPoints, init);
  auto loss = train::make_loss(command.loss);                                                        // loss
  Adam adam(model, {.weight_decay = command.weight_decay, .decoupled_weight_decay = true});
  train::place(model, *loss, adam, device, parse_impl(flags.impl));

  train::ModelCard card = model_card(recipe, command.size, command.crop_enlarge);
  card.commit = train::source_commit();
  card.recipe = {{"train_faces", std::to_string(split.train.size())},
                 {"validation_faces", std::to_string(split.validation.size())},
                 {"epochs", std::to_string(flags.epochs)}, {"lr", std::to_string(flags.lr)},
                 {"batch", std::to_string(flags.batch)}, {"seed", std::to_string(flags.seed)},
                 {"split_seed", std::to_string(command.split_seed)},
                 {"loss", command.loss}, {"schedule", flags.schedule},
                 {"warmup_epochs", std::to_string(command.warmup_epochs)},
                 {"weight_decay", std::to_string(command.weight_decay)},
                 {"crop_enlarge", std::to_string(command.crop_enlarge)},
                 {"test_time_mirror", command.test_time_mirror ? "on" : "off"},
                 {"data_checksum", data::records_checksum(split.train) + "/" + data::records_checksum(split.validation)}};
  const auto run_lock = train::claim_run_folder(flags.out, {flags.resume, flags.force}, [&](const std::string& last) {
    const train::ModelCard found = train::read_card(last);
    train::check_card(found, card, last);
    train::check_same_recipe(found, card, last);
  });
  data::DataLoader loader(train_set, {.batch_size = flags.batch, .seed = flags.seed, .drop_last = true, .augment = true});
  train::RunFolder run(flags.out);
  if (!flags.resume) save_loader_samples(run.figure("loader_samples.png"), loader, 16, 8);

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

// ---------------------------------------------------------------- eval, kaggle and predict

struct ModelCommand : ModelFlags {
  std::string labels, out, format = "csv";
  bool force = false;                      // kaggle, predict: replace existing outputs
  bool allow_training_faces = false;       // eval: measure on the training XML anyway
  std::string drawn_out = "predictions";   // predict: where the images with their points go
  bool found_boxes = true;                 // eval: also with the boxes the app finds itself
  std::vector<double> box;                 // predict: left top width height, instead of finding the face
  std::vector<std::string> images;
};

struct LoadedModel {
  std::unique_ptr<ResNet18> model;
  train::ModelCard card;
  data::SampleOptions framing;
  std::vector<int> mirror;  // test-time mirroring, as the model was validated
};

// The crop enlargement a model was trained with, from its framing sentence (model_card writes it).
double framing_enlarge(const train::ModelCard& card, const std::string& path) {
  static const std::regex factor(R"(\* ([0-9]+(\.[0-9]+)?))");
  std::smatch match;
  KEYNET_CHECK(std::regex_search(card.framing, match, factor), path, ": the model's framing '", card.framing,
               "' does not say how much the face box is enlarged");
  return std::stod(match[1].str());
}

LoadedModel load_ibug_model(const IbugRecipe& recipe, const ModelCommand& command, Device device) {
  KEYNET_CHECK(fs::exists(command.model), command.model, ": no such model file");
  LoadedModel loaded;
  const SafetensorsFile file = read_safetensors(command.model);
  loaded.card = train::ModelCard::from_metadata(file.metadata, command.model);
  // The card's app, input size and points first (check_card does not read the framing), then the crop.
  train::check_card(loaded.card, model_card(recipe, loaded.card.input_width, 1.0), command.model);
  const double enlarge = framing_enlarge(loaded.card, command.model);
  KEYNET_CHECK(loaded.card.input_width == loaded.card.input_height, command.model, ": input ",
               loaded.card.input_width, "x", loaded.card.input_height, " is not square");
  Rng unused(0);
  loaded.model = std::make_unique<ResNet18>(1, 2 * data::kIbugPoints, unused);
  load_module(*loaded.model, file, command.model);
  to_device(*loaded.model, device);
  loaded.framing = sample_options(recipe, loaded.card.input_width, enlarge, {});
  if (use_test_time_mirror(command.test_time_mirror, loaded.card.recipe)) loaded.mirror = mirror_permutation();
  return loaded;
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

train::FaceFinderOptions finder_options(const LoadedModel& loaded) {
  train::FaceFinderOptions options;
  options.framing = loaded.framing;
  options.num_points = data::kIbugPoints;
  options.mirror_permutation = loaded.mirror;
  return options;
}

// Each face's points mapped to its original photo through crop_manifest.csv beside the label XML
// (empty when there is none or it lacks a face's image).
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

// The field's metrics: NME (%), failure rate at NME > 8%, AUC of the CED up to 8%, the Kaggle MAE.
json landmark_metrics(const train::Predictions& p, const std::vector<data::Affine>& to_original) {
  const std::vector<double> nme = per_face_nme(p);
  json metrics = {{"faces", nme.size()},
                  {"nme_percent", mean(nme)},
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

Series ced_series(const std::string& label, const std::vector<double>& nme) {
  Series series{label, {}, {}};
  for (int step = 0; step <= 200; ++step) {
    series.x.push_back(0.05 * step);
    series.y.push_back(train::ced_at(nme, series.x.back()));
  }
  return series;
}

// One row per face in XML order: image file as the XML names it, then x0,y0..x67,y67 in its pixels.
void write_predictions_csv(const std::string& path, const train::Predictions& p, const std::string& labels) {
  const fs::path dir = fs::path(labels).parent_path();
  train::write_predictions_csv(path, p, [&](const std::string& image) {
    return fs::path(image).lexically_relative(dir).generic_string();
  });
}

// The model's points for every face of a label XML, cropped by the XML's boxes, in the stored images' pixels.
train::Predictions predict_labels(LoadedModel& loaded, const std::string& labels, Device device) {
  std::vector<data::LandmarkRecord> faces = data::read_dlib_xml(labels, data::kIbugPoints);
  KEYNET_CHECK(!faces.empty(), labels, ": no labelled faces (no <box> with its 68 <part>s under any <image>)");
  data::KeypointDataset set(std::move(faces), loaded.framing);
  L1Loss loss;  // predict_dataset also reports a loss, which eval and kaggle do not use
  return train::predict_dataset(*loaded.model, loss, set, kEvalBatch, device, loaded.mirror);
}

void eval_command(const IbugRecipe& recipe, const ModelCommand& command) {
  KEYNET_CHECK(command.allow_training_faces || fs::path(command.labels).filename() != kTrainLabels, "--labels ",
               command.labels, ": the models train on these faces (all but a tenth of its photos), so the numbers "
               "would mean nothing; eval on labels_ibug_300W_test.xml, or pass --allow-training-faces");
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  LoadedModel loaded = load_ibug_model(recipe, command, device);
  const auto lock = command.out.empty() ? nullptr : train::claim_eval_folder(command.out, recipe.app);
  const auto started = std::chrono::steady_clock::now();
  const train::Predictions p = predict_labels(loaded, command.labels, device);
  const std::vector<data::Affine> to_original = to_original_photos(command.labels, p);
  json metrics = {{"model", command.model}, {"labels", command.labels}, {"xml_boxes", landmark_metrics(p, to_original)}};
  std::printf("%s on %s (%zu faces), XML boxes: %s\n", command.model.c_str(), command.labels.c_str(),
              p.predicted.size(), metrics["xml_boxes"].dump().c_str());
  Panel ced{"Cumulative error distribution", "NME (% of the outer-eye-corner distance)", "fraction of faces", false,
            {ced_series("XML boxes", per_face_nme(p))}};

  train::Predictions found = p;
  if (command.found_boxes) {
    const train::FaceFinderOptions options = finder_options(loaded);
    int no_face = 0;
    for (size_t i = 0; i < p.images.size(); ++i) {
      const train::FoundFace face = train::find_face(*loaded.model, data::load_image(p.images[i]), options, device);
      found.predicted[i] = face.points;
      no_face += !face.found;
      if ((i + 1) % 25 == 0 || i + 1 == p.images.size())
        std::fprintf(stderr, "finding faces: %zu/%zu\n", i + 1, p.images.size());
    }
    metrics["found_boxes"] = landmark_metrics(found, to_original);
    metrics["found_boxes"]["no_face_answers"] = no_face;
    std::printf("boxes found by the app: %s\n", metrics["found_boxes"].dump().c_str());
    ced.series.push_back(ced_series("boxes found by the app", per_face_nme(found)));
  }
  metrics["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!command.out.empty()) {
    train::RunFolder run(command.out);
    const std::string name = fs::path(command.labels).stem().string();
    run.update_metrics({{"app", recipe.app}, {"eval_" + name, metrics}});
    write_predictions_csv(run.prediction_file("eval_" + name + ".csv"), p, command.labels);
    if (command.found_boxes) write_predictions_csv(run.prediction_file("eval_" + name + "_found_boxes.csv"), found, command.labels);
    plot_panels(run.figure("ced_" + name + ".png"), {ced});
    const std::vector<double> nme = per_face_nme(p);
    std::vector<size_t> order(nme.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return nme[a] < nme[b]; });
    const size_t n = order.size();
    std::vector<size_t> chosen;  // best, median and worst rows of four
    for (size_t start : {size_t{0}, n / 2 >= 2 ? n / 2 - 2 : 0, n >= 4 ? n - 4 : 0})
      for (size_t k = start; k < std::min(n, start + 4); ++k) chosen.push_back(order[k]);
    save_prediction_grid(run.figure("best_median_worst_" + name + ".png"), p, chosen, 4, 240);
  }
}

void kaggle_command(const IbugRecipe& recipe, const ModelCommand& command) {
  const std::string path = command.out.empty() ? "kaggle.csv" : command.out;
  check_output_file("--out", path, {".csv"}, {command.labels, command.model}, command.force);
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  LoadedModel loaded = load_ibug_model(recipe, command, device);
  const train::Predictions p = predict_labels(loaded, command.labels, device);
  const std::vector<data::Affine> to_original = to_original_photos(command.labels, p);
  KEYNET_CHECK(!to_original.empty(), command.labels, ": the Kaggle CSV is in original-photo pixels, and ",
               (fs::path(command.labels).parent_path() / "crop_manifest.csv").string(),
               " is missing or lacks one of its images");
  CsvWriter csv(8);
  csv.row({"Id", "Predicted"});
  for (size_t image = 0; image < p.predicted.size(); ++image) {
    const train::Points points = to_original[image].apply(p.predicted[image]);
    for (size_t point = 0; point < points.size(); ++point) {
      const size_t id = image * 2 * data::kIbugPoints + 2 * point;
      (csv << id << points[point].x).end_row();
      (csv << id + 1 << points[point].y).end_row();
    }
  }
  replace_file(path, [&](const std::string& temporary) { train::write_file_atomically(temporary, csv.str()); });
  std::fprintf(stderr, "%s: %zu rows for %zu faces\n", path.c_str(), p.predicted.size() * 2 * data::kIbugPoints,
               p.predicted.size());
}

// "--box L T W H" must frame a face in this image: a positive size at most 8 times the image's, and
// overlapping the image; anything else would ask the network about pixels that are not there.
data::FaceBox checked_box(const std::vector<double>& box, const data::Image& image, const std::string& path) {
  const data::FaceBox b{box[0], box[1], box[2], box[3]};
  const double largest = 8.0 * std::max(image.width, image.height);
  KEYNET_CHECK(b.width >= 4 && b.height >= 4 && b.width <= largest && b.height <= largest, "--box ", b.left, " ",
               b.top, " ", b.width, " ", b.height, ": ", path, " is ", image.width, "x", image.height,
               "; a face box needs a width and height of 4 to ", largest, " pixels");
  KEYNET_CHECK(b.left < image.width && b.top < image.height && b.left + b.width > 0 && b.top + b.height > 0, "--box ",
               b.left, " ", b.top, " ", b.width, " ", b.height, ": lies outside ", path, " (", image.width, "x",
               image.height, "); give left top width height in its pixels");
  return b;
}

void predict_command(const IbugRecipe& recipe, const ModelCommand& command) {
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  LoadedModel loaded = load_ibug_model(recipe, command, device);
  const train::FaceFinderOptions options = finder_options(loaded);
  const PredictBatch batch{.app = recipe.app,
                           .images = command.images,
                           .format = command.format,
                           .drawn_folder = command.drawn_out,
                           .drawn_flag = "--drawn-out",
                           .other_inputs = {command.model},
                           .force = command.force};
  predict_images(batch, [&](const data::Image& image, const std::string& path) {
    const auto started = std::chrono::steady_clock::now();
    const train::FoundFace face = command.box.empty()
                                      ? train::find_face(*loaded.model, image, options, device)
                                      : train::refine_face(*loaded.model, image, checked_box(command.box, image, path),
                                                           options, device);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    KEYNET_CHECK(!command.box.empty() || face.found, no_face_found(path, face, options), " (", seconds, " s)");
    std::fprintf(stderr, "%s: face box %.0f,%.0f %.0fx%.0f (self-consistency %.1f%%, %d candidates) (%.1f s)\n",
                 path.c_str(), face.box.left, face.box.top, face.box.width, face.box.height,
                 face.inconsistency_percent, face.candidates, seconds);
    return face.points;
  });
}

}  // namespace

std::vector<data::Point> detect_landmarks(const data::Image& image, const std::string& image_name,
                                          const std::string& model_path) {
  static std::map<std::string, LoadedModel> loaded_models;
  IbugRecipe recipe;
  recipe.app = "ibug_landmarks";
  ModelCommand command;
  command.model = model_path.empty() ? default_model_path(recipe.app) : model_path;
  const Device device = train::resolve_device("auto");
  auto at = loaded_models.find(command.model);
  if (at == loaded_models.end()) at = loaded_models.emplace(command.model, load_ibug_model(recipe, command, device)).first;
  const train::FaceFinderOptions options = finder_options(at->second);
  const train::FoundFace face = train::find_face(*at->second.model, image, options, device);
  KEYNET_CHECK(face.found, no_face_found(image_name, face, options));
  return face.points;
}

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
  train_cli->add_option("--split-seed", train.split_seed,
                        "chooses which photos validate (apart from --seed, so runs of several seeds share one "
                        "validation set)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  train_cli->add_option("--test-time-mirror", train.test_time_mirror,
                        "validate on each face and its mirror image, averaged (recorded in the model file)")
      ->capture_default_str();
  train_cli->callback([&] { train_command(recipe, train); });

  ModelCommand model_command;
  model_command.model = default_model_path(recipe.app);
  CLI::App* eval_cli = app.add_subcommand(
      "eval", "measure a model on a label XML: NME, failure rate, AUC, CED plot, Kaggle MAE; with the XML's boxes "
              "and with the boxes the app finds itself");
  add_model_flags(*eval_cli, model_command);
  eval_cli->add_option("--labels", model_command.labels, "dlib XML of faces (e.g. labels_ibug_300W_test.xml)")
      ->required()
      ->check(readable_file());
  eval_cli->add_option("--found-boxes", model_command.found_boxes,
                       "also measure with boxes found by the app (slow: about 2 s per face on a 2-core CPU)")
      ->capture_default_str();
  eval_cli->add_option("--out", model_command.out, "run folder for metrics.json, predictions/ and figures/");
  eval_cli->add_flag("--allow-training-faces", model_command.allow_training_faces,
                     "measure on the training XML although the models learned its faces");
  eval_cli->callback([&] { eval_command(recipe, model_command); });

  CLI::App* kaggle_cli = app.add_subcommand(
      "kaggle", "write Id,Predicted for a label XML: Id = face*136 + 2*point + (0 for x, 1 for y), faces 0-based "
                "in XML order, original-photo pixels (through crop_manifest.csv beside the XML)");
  add_model_flags(*kaggle_cli, model_command);
  kaggle_cli->add_option("--labels", model_command.labels, "dlib XML of faces")->required()->check(readable_file());
  kaggle_cli->add_option("--out", model_command.out, "CSV file to write (default kaggle.csv)");
  kaggle_cli->add_flag("--force", model_command.force, "replace the CSV if it exists");
  kaggle_cli->callback([&] { kaggle_command(recipe, model_command); });

  CLI::App* predict_cli = app.add_subcommand(
      "predict", "68 points on photos of any size: the face is found by the network itself (candidate boxes "
                 "refined until they settle, the most self-consistent kept) unless --box is given; a photo "
                 "without a face gets 'no face found' and a non-zero exit");
  add_model_flags(*predict_cli, model_command);
  predict_cli->add_option("images", model_command.images, "image files")->required()->check(readable_file());
  predict_cli->add_option("--box", model_command.box, "the face box: left top width height, in pixels")
      ->expected(4)
      ->check(finite_number());
  predict_cli->add_flag("--force", model_command.force, "replace drawings already in the --drawn-out folder");
  predict_cli->add_option("--format", model_command.format, "points on stdout: csv or json")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  predict_cli->add_option("--drawn-out", model_command.drawn_out, "folder for the images with their points drawn")
      ->capture_default_str();
  predict_cli->callback([&] { predict_command(recipe, model_command); });
  return run_cli(app, argc, argv);
}

}  // namespace keynet::apps
