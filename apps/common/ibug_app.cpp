// The iBUG app's commands (train, eval, kaggle, predict) and their command line; the data, network and
// model files they share are in apps/common/ibug_model.h, the training loop in train_command.h.
#include "apps/common/ibug_app.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "apps/common/figures.h"
#include "apps/common/ibug_model.h"
#include "apps/common/outputs.h"
#include "apps/common/plots.h"
#include "apps/common/predict_batch.h"
#include "apps/common/train_command.h"
#include "data/ibug.h"
#include "io/csv.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------- train

struct TrainCommand {
  TrainFlags flags;
  TrainingSettings settings;
  int size = 0;
  double crop_enlarge = 0;
  uint64_t split_seed = 0;  // which photos validate, apart from --seed so that seeds share one validation set
  std::string architecture = kResNet18Architectures[0];
};

void train_command(const IbugRecipe& recipe, const TrainCommand& command) {
  const Device device = train::resolve_device(command.flags.device);
  const std::vector<int> mirror = data::ibug_mirror_permutation();
  IbugData data = load_ibug_training(recipe, command.flags.data, command.split_seed,                  // data
                                     sample_options(recipe, command.size, command.crop_enlarge, mirror));
  Rng init(command.flags.seed);                                                                        // model
  const std::unique_ptr<ResNet18> model = build_ibug_network(command.architecture, init, "--arch");

  train::ModelCard card = model_card(recipe, command.architecture, command.size, command.crop_enlarge);
  card.recipe = {{"train_faces", std::to_string(data.train.size())},
                 {"validation_faces", std::to_string(data.validation.size())},
                 {"split_seed", std::to_string(command.split_seed)},
                 {"crop_enlarge", std::to_string(command.crop_enlarge)}};
  const ValidationReading reading{
      .metric_name = "val_nme_percent",
      .metric_label = "validation NME (%)",
      .reported = {},  // all 68 points
      .metric = mean_nme_percent,
      .summary = [](const train::Predictions& p) { return json{{"nme_percent", mean_nme_percent(p)},
                                                               {"faces", p.predicted.size()}}; },
      .per_face_error = [](const train::Predictions& p) { return train::per_face_nme_percent(p.predicted, p.truth); },
      .csv_image_name = xml_image_names(data.labels),
      .time_to_metric = 6.4};
  const TrainingOutcome outcome = run_training(command.flags, device, *model, data.train, data.validation, card,
                                               command.settings, mirror,             // loss, optimizer
                                               reading,                              // training loop, figures
                                               {.best_worst_count = 3, .best_worst_width = 240}, {{"app", recipe.app}});
  std::printf("%s: validation (%zu faces) after %d epochs: NME %.3f%%; training took %s\n", recipe.app.c_str(),
              outcome.validation.predicted.size(), command.flags.epochs, outcome.summary["nme_percent"].get<double>(),
              train::format_duration(outcome.seconds).c_str());
}

// ---------------------------------------------------------------- eval, kaggle and predict

struct ModelCommand : ModelFlags {
  std::string labels;
  std::string out;                      // eval: a run folder (none by default); kaggle: the CSV file
  bool force = false;                   // kaggle: replace the CSV
  bool allow_training_faces = false;    // eval: measure on the training XML anyway
  bool found_boxes = true;              // eval: also with the boxes the app finds itself
  std::string baseline;                 // eval: a second model measured on the same faces, for comparison
  std::vector<double> box;              // predict: left top width height, instead of finding the face
  PredictFlags predict;
};

Series ced_series(const std::string& label, const std::vector<double>& nme) {
  Series series{label, {}, {}};
  for (int step = 0; step <= 200; ++step) {
    series.x.push_back(0.05 * step);
    series.y.push_back(train::ced_at(nme, series.x.back()));
  }
  return series;
}

// The points of every face with the boxes the app finds itself, instead of the XML's.
train::Predictions with_found_boxes(IbugModel& loaded, train::Predictions p, Device device, int& no_face) {
  const train::FaceFinderOptions options = finder_options(loaded);
  for (size_t i = 0; i < p.images.size(); ++i) {
    const train::FoundFace face = train::find_face(*loaded.model, data::load_image(p.images[i]), options, device);
    p.predicted[i] = face.points;
    no_face += !face.found;
    if ((i + 1) % 25 == 0 || i + 1 == p.images.size())
      std::fprintf(stderr, "finding faces: %zu/%zu\n", i + 1, p.images.size());
  }
  return p;
}

// `loaded` on the faces of `p` with the boxes it finds itself: metrics["found_boxes"] and a CED curve
// named after `curve_prefix`; returns those predictions.
train::Predictions measure_found_boxes(IbugModel& loaded, const train::Predictions& p,
                                       const std::vector<data::Affine>& to_original, Device device,
                                       const std::string& curve_prefix, json& metrics, Panel& ced) {
  int no_face = 0;
  train::Predictions found = with_found_boxes(loaded, p, device, no_face);
  metrics["found_boxes"] = landmark_metrics(found, to_original);
  metrics["found_boxes"]["no_face_answers"] = no_face;
  ced.series.push_back(
      ced_series(curve_prefix + "boxes found by the app", train::per_face_nme_percent(found.predicted, found.truth)));
  return found;
}

void eval_command(const IbugRecipe& recipe, const ModelCommand& command) {
  KEYNET_CHECK(command.allow_training_faces || fs::path(command.labels).filename() != kIbugTrainLabels, "--labels ",
               command.labels, ": the models train on these faces (all but a tenth of its photos), so the numbers "
               "would mean nothing; eval on labels_ibug_300W_test.xml, or pass --allow-training-faces");
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  IbugModel loaded = load_ibug_model(recipe, command.model, device, command.test_time_mirror);
  const auto lock = command.out.empty() ? nullptr : train::claim_results_folder(command.out, recipe.app);
  const auto started = std::chrono::steady_clock::now();
  const train::Predictions p = predict_labels(loaded, command.labels, device);
  const std::vector<data::Affine> to_original = to_original_photos(command.labels, p);
  json metrics = {{"model", command.model}, {"labels", command.labels}, {"xml_boxes", landmark_metrics(p, to_original)}};
  std::printf("%s on %s (%zu faces), XML boxes: %s\n", command.model.c_str(), command.labels.c_str(),
              p.predicted.size(), metrics["xml_boxes"].dump().c_str());
  const std::vector<double> nme = train::per_face_nme_percent(p.predicted, p.truth);
  Panel ced{"Cumulative error distribution", "NME (% of the outer-eye-corner distance)", "fraction of faces", false,
            {ced_series("XML boxes", nme)}};
  const train::Predictions found =
      command.found_boxes ? measure_found_boxes(loaded, p, to_original, device, "", metrics, ced) : p;
  if (command.found_boxes) std::printf("boxes found by the app: %s\n", metrics["found_boxes"].dump().c_str());
  if (!command.baseline.empty()) {  // the same faces and boxes through another model, its curves beside
    IbugModel other = load_ibug_model(recipe, command.baseline, device, command.test_time_mirror);
    const train::Predictions q = predict_labels(other, command.labels, device);
    json& baseline = metrics["baseline"] = {{"model", command.baseline}, {"xml_boxes", landmark_metrics(q, to_original)}};
    ced.series.push_back(ced_series("baseline, XML boxes", train::per_face_nme_percent(q.predicted, q.truth)));
    if (command.found_boxes) measure_found_boxes(other, q, to_original, device, "baseline, ", baseline, ced);
    std::printf("baseline %s: %s\n", command.baseline.c_str(), baseline.dump().c_str());
  }
  metrics["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (command.out.empty()) return;
  train::RunFolder run(command.out);
  const std::string name = fs::path(command.labels).stem().string();
  run.update_metrics({{"app", recipe.app}, {"eval_" + name, metrics}});
  train::write_predictions_csv(run.prediction_file("eval_" + name + ".csv"), p, xml_image_names(command.labels));
  if (command.found_boxes)
    train::write_predictions_csv(run.prediction_file("eval_" + name + "_found_boxes.csv"), found,
                                 xml_image_names(command.labels));
  plot_panels(run.figure("ced_" + name + ".png"), {ced});
  save_best_median_worst(run.figure("best_median_worst_" + name + ".png"), p, nme, 4, 240);
}

void kaggle_command(const IbugRecipe& recipe, const ModelCommand& command) {
  const std::string path = command.out.empty() ? "kaggle.csv" : command.out;
  check_output_file("--out", path, {".csv"}, {command.labels, command.model}, command.force);
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  IbugModel loaded = load_ibug_model(recipe, command.model, device, command.test_time_mirror);
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
  IbugModel loaded = load_ibug_model(recipe, command.model, device, command.test_time_mirror);
  const train::FaceFinderOptions options = finder_options(loaded);
  const PredictBatch batch{.app = recipe.app, .flags = command.predict, .other_inputs = {command.model}};
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

// ---------------------------------------------------------------- the command line

void add_train_command(CLI::App& app, TrainCommand& train, const IbugRecipe& recipe) {
  CLI::App* cli = app.add_subcommand(
      "train", "train on labels_ibug_300W_train.xml, validating on a seeded tenth of its photos; writes --out");
  add_train_flags(*cli, train.flags);
  add_training_settings_flags(*cli, train.settings);
  cli->add_option("--arch", train.architecture, "network: ResNet18 with its pooled fc head, or with the integral "
                  "(soft-argmax) head")
      ->check(CLI::IsMember(std::vector<std::string>(std::begin(kResNet18Architectures), std::end(kResNet18Architectures))))
      ->capture_default_str();
  cli->add_option("--size", train.size, "network input side (square, gray)")->check(CLI::Range(32, 1024))->capture_default_str();
  cli->add_option("--crop-enlarge", train.crop_enlarge, "crop side over the face box's larger side")
      ->check(finite_number() & CLI::Range(1.0, 3.0))
      ->capture_default_str();
  cli->add_option("--split-seed", train.split_seed,
                  "chooses which photos validate (apart from --seed, so runs of several seeds share one validation set)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cli->callback([&] { train_command(recipe, train); });
}

}  // namespace

int run_ibug_app(int argc, char** argv, const IbugRecipe& recipe) {
  CLI::App app{recipe.summary, recipe.app};
  app.require_subcommand(1);
  TrainCommand train{recipe.defaults, recipe.training, recipe.input_size, recipe.crop_enlarge};
  add_train_command(app, train, recipe);

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
                       "also measure with boxes found by the app (about 0.2 s per face on a 2-core CPU, most of eval's "
                       "time)")
      ->capture_default_str();
  eval_cli->add_option("--baseline", model_command.baseline,
                       "a second model file measured on the same faces: its metrics under \"baseline\" and its CED "
                       "curves in the same figure")
      ->check(readable_file());
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
                 "refined until they settle, from the largest scale down; the first clearly self-consistent "
                 "face, else the most self-consistent) unless --box is given; a photo "
                 "without a face gets 'no face found' and a non-zero exit");
  add_model_flags(*predict_cli, model_command);
  model_command.predict.out = "runs/" + recipe.app + "_predict";
  add_predict_flags(*predict_cli, model_command.predict);
  predict_cli->add_option("--box", model_command.box, "the face box: left top width height, in pixels")
      ->expected(4)
      ->check(finite_number());
  predict_cli->callback([&] { predict_command(recipe, model_command); });
  return run_cli(app, argc, argv);
}

}  // namespace keynet::apps
