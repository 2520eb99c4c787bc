// The IMM apps' commands (train, eval, predict, sweep) and their command line; the data, networks and
// model files they share are in apps/common/imm_model.h, the training loop in train_command.h.
#include "apps/common/imm_app.h"

#include <cstdio>

#include "apps/common/imm_model.h"
#include "apps/common/plots.h"
#include "apps/common/predict_batch.h"
#include "apps/common/train_command.h"
#include "data/imm.h"
#include "layers/losses.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace keynet::apps {

using nlohmann::json;

namespace {

constexpr int kValidationBatch = 48;

constexpr const char* kSplitHelp =
    "final: train on persons 1-32, validate on 33-40; dev: train on 1-28, validate on 29-32; foldK: "
    "validate on persons 8K-7..8K, train on the rest of 1-32";

// ---------------------------------------------------------------- train

struct TrainCommand {
  TrainFlags flags;
  TrainingSettings settings;
  std::string split = "final", architecture, size;
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

TrainingOutcome train_command(ImmRecipe recipe, const TrainCommand& command, bool figures) {
  recipe.augment_options = scaled_augmentation(recipe.augment_options, command.augment_strength);
  const Device device = train::resolve_device(command.flags.device);
  const InputSize size = parse_size(command.size);
  const std::vector<int> learned = learned_points(recipe, command.auxiliary_points);
  ImmData data = load_imm(recipe, learned, command.flags.data, command.split, size, command.settings.augment);  // data
  auto model = build_model(recipe, command.architecture, size, 2 * num_points(learned), command.flags.seed);  // model

  train::ModelCard card = model_card(recipe, command.architecture, size, num_points(learned));
  card.recipe = {{"split", command.split},
                 {"augment", command.settings.augment ? "on" : "off"},
                 {"auxiliary_points", command.auxiliary_points ? "on" : "off"},
                 {"augment_strength", std::to_string(command.augment_strength)}};
  const ValidationReading reading{
      .metric_name = "val_mse",
      .metric_label = "val_mse",
      .reported = [&](train::Predictions p) { return reported_points(std::move(p), recipe, command.auxiliary_points); },
      .metric = [](const train::Predictions& p) {
        return train::normalized_mse(p.predicted, p.truth, data::kImmWidth, data::kImmHeight);
      },
      .summary = imm_metrics,
      .per_face_error = per_face_distance,
      .csv_image_name = csv_image_name,
      .batch = kValidationBatch};
  TrainingOutcome outcome = run_training(command.flags, device, *model, data.train, data.validation, card,
                                         command.settings, mirror_permutation(learned),  // loss, optimizer
                                         reading,                                        // training loop, figures
                                         {.draw = figures, .first_layer_filters = recipe.filter_figure},
                                         {{"app", recipe.app}, {"split", command.split}});
  std::printf("%s: validation (%s split, %zu faces) after %d epochs: MSE %.4g, mean point distance %.3f px; "
              "training took %s\n",
              recipe.app.c_str(), command.split.c_str(), outcome.validation.predicted.size(), command.flags.epochs,
              outcome.summary["mse_normalized"].get<double>(), outcome.summary["mean_point_distance_px"].get<double>(),
              train::format_duration(outcome.seconds).c_str());
  return outcome;
}

// ---------------------------------------------------------------- eval and predict

struct ModelCommand : ModelFlags {
  std::string data, split = "final";   // eval
  std::string out;                     // eval: a run folder for the results (none by default)
  bool allow_training_faces = false;   // eval: measure on faces the model trained on
  PredictFlags predict;
};

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
  ImmModel loaded = load_imm_model(recipe, command.model, device, command.test_time_mirror);
  check_not_training_faces(loaded.card, command);
  const auto lock = command.out.empty() ? nullptr : train::claim_results_folder(command.out, recipe.app);
  const ImmData data = load_imm(recipe, loaded.learned, command.data, command.split, loaded.size, false);
  MSELoss loss;
  const train::Predictions p = reported_points(
      train::predict_dataset(*loaded.model, loss, data.validation, kValidationBatch, device, loaded.mirror), recipe,
      loaded.auxiliary_points);
  const json metrics = imm_metrics(p);
  std::printf("%s on the %s split's %zu validation faces: MSE %.4g, mean point distance %.3f px\n",
              command.model.c_str(), command.split.c_str(), p.predicted.size(),
              metrics["mse_normalized"].get<double>(), metrics["mean_point_distance_px"].get<double>());
  if (command.out.empty()) return;
  train::RunFolder run(command.out);
  run.update_metrics({{"app", recipe.app},
                      {"eval", {{"model", command.model}, {"split", command.split}, {"validation", metrics}}}});
  train::write_predictions_csv(run.prediction_file("eval_" + command.split + ".csv"), p, csv_image_name);
}

void predict_command(const ImmRecipe& recipe, const ModelCommand& command) {
  const Device device = train::resolve_device(command.device);
  set_default_impl(parse_impl(command.impl));
  ImmModel loaded = load_imm_model(recipe, command.model, device, command.test_time_mirror);
  const PredictBatch batch{.app = recipe.app, .flags = command.predict, .other_inputs = {command.model}};
  predict_images(batch, [&](const data::Image& image, const std::string& path) {
    check_imm_framing(recipe, image, path);
    return predict_points(recipe, loaded, image, device);
  });
}

// ---------------------------------------------------------------- sweep

void sweep_command(const ImmRecipe& recipe, TrainCommand base) {
  KEYNET_CHECK(train::world().size == 1, "sweep trains its runs one after another in one process; start it without "
               "mpirun (train is the command that runs on several ranks)");
  base.flags.epochs = recipe.sweep_epochs;
  const std::string root = base.flags.out;
  Panel by_lr{"Learning rate (batch " + std::to_string(base.flags.batch) + ")", "epoch", "validation MSE", true, {}};
  Panel by_batch{"Batch size (lr " + std::to_string(base.flags.lr) + ")", "epoch", "validation MSE", true, {}};
  json summary;
  auto run_one = [&](TrainCommand command, const std::string& name, Panel& panel) {
    command.flags.out = root + "/" + name;
    std::fprintf(stderr, "sweep: %s\n", name.c_str());
    const TrainingOutcome outcome = train_command(recipe, command, false);
    Series series{name, {}, {}};
    for (const train::EpochRecord& r : outcome.log) series.x.push_back(r.epoch), series.y.push_back(r.val_metric);
    panel.series.push_back(series);
    summary[name] = outcome.summary;
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

// ---------------------------------------------------------------- the command line

void add_recipe_flags(CLI::App& command, TrainCommand& target, const ImmRecipe& recipe) {
  add_train_flags(command, target.flags);
  command.add_option("--split", target.split, kSplitHelp)->check(CLI::IsMember(data::kImmSplits))->capture_default_str();
  std::vector<std::string> names;
  for (const auto& [name, spec] : recipe.architectures) names.push_back(name);
  command.add_option("--arch", target.architecture, "network variant")->check(CLI::IsMember(names))->capture_default_str();
  command.add_option("--size", target.size, "network input WxH")->check(CLI::IsMember(recipe.sizes))->capture_default_str();
  add_training_settings_flags(command, target.settings);
  if (!recipe.points.empty())
    command.add_option("--auxiliary-points", target.auxiliary_points,
                       "the network also learns IMM's other points as auxiliary targets (only the app's own points "
                       "are reported; the model file records it)")
        ->capture_default_str();
  command.add_option("--augment-strength", target.augment_strength,
                     "every augmentation range (rotation, shift, scale, brightness, contrast) times this")
      ->check(finite_number() & CLI::Range(0.0, 4.0))
      ->capture_default_str();
  command.add_option("--augment", target.settings.augment,
                     "augment the training faces (rotation, shift, scale, brightness, contrast, mirror)")
      ->capture_default_str();
}

}  // namespace

int run_imm_app(int argc, char** argv, const ImmRecipe& recipe) {
  CLI::App app{recipe.summary, recipe.app};
  app.require_subcommand(1);

  TrainCommand train{.flags = recipe.defaults,
                     .settings = recipe.training,
                     .architecture = recipe.architecture,
                     .size = recipe.sizes.front(),
                     .auxiliary_points = recipe.auxiliary_points};
  TrainCommand sweep = train;
  sweep.split = "dev";
  sweep.flags.out += "_sweep";
  CLI::App* train_cli = app.add_subcommand("train", "train a network; writes a run folder (--out)");
  add_recipe_flags(*train_cli, train, recipe);
  train_cli->callback([&] { train_command(recipe, train, true); });

  ModelCommand model_command;
  model_command.model = default_model_path(recipe.app);
  CLI::App* eval_cli = app.add_subcommand("eval", "measure a model on the validation faces (no augmentation)");
  add_model_flags(*eval_cli, model_command);
  add_data_flag(*eval_cli, model_command.data);
  eval_cli->add_option("--split", model_command.split, std::string("the split's validation faces; ") + kSplitHelp)
      ->check(CLI::IsMember(data::kImmSplits))
      ->capture_default_str();
  eval_cli->add_option("--out", model_command.out, "run folder for metrics.json and predictions/ (none by default)");
  eval_cli->add_flag("--allow-training-faces", model_command.allow_training_faces,
                     "measure even when the split's validation persons are ones the model trained on");
  eval_cli->callback([&] { eval_command(recipe, model_command); });

  CLI::App* predict_cli = app.add_subcommand(
      "predict",
      "points on images framed as IMM's photos are: the whole image (640x480 in IMM, any size with a 4:3 aspect) "
      "holds one face, upright and centred, filling about half the height; the image is resized to the network's "
      "input as a whole");
  add_model_flags(*predict_cli, model_command);
  model_command.predict.out = "runs/" + recipe.app + "_predict";
  add_predict_flags(*predict_cli, model_command.predict);
  predict_cli->callback([&] { predict_command(recipe, model_command); });

  if (!recipe.sweep_lrs.empty()) {
    CLI::App* sweep_cli = app.add_subcommand(
        "sweep", "validation curves for several learning rates and batch sizes (dev split by default)");
    add_recipe_flags(*sweep_cli, sweep, recipe);
    sweep_cli->callback([&] { sweep_command(recipe, sweep); });
  }
  return run_cli(app, argc, argv);
}

}  // namespace keynet::apps
