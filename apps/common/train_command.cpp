#include "apps/common/train_command.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "apps/common/figures.h"
#include "data/landmarks.h"
#include "data/loader.h"
#include "layers/conv2d.h"
#include "optim/optimizer.h"
#include "tensor/version.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace {

// The recipe entries every app records, so that --resume can refuse a run whose recipe changed.
void add_common_recipe(train::ModelCard& card, const TrainFlags& flags, const TrainingSettings& settings,
                       const data::KeypointDataset& train_set, const data::KeypointDataset& validation_set) {
  card.commit = build_commit();
  card.recipe["epochs"] = std::to_string(flags.epochs);
  card.recipe["lr"] = std::to_string(flags.lr);
  card.recipe["batch"] = std::to_string(flags.batch);
  card.recipe["seed"] = std::to_string(flags.seed);
  card.recipe["loss"] = settings.loss;
  if (settings.loss == "wing")
    card.recipe["wing"] = "w=" + std::to_string(settings.wing.w) + " epsilon=" + std::to_string(settings.wing.epsilon);
  card.recipe["schedule"] = flags.schedule;
  card.recipe["warmup_epochs"] = std::to_string(settings.warmup_epochs);
  card.recipe["weight_decay"] = std::to_string(settings.weight_decay);
  card.recipe["test_time_mirror"] = settings.test_time_mirror ? "on" : "off";
  // only when on, so that runs started before the flag existed resume as they were
  if (settings.sync_batch_norm) card.recipe["batch_norm_statistics"] = "global batch (--sync-batch-norm)";
  card.recipe["data_checksum"] =
      data::records_checksum(train_set.records()) + "/" + data::records_checksum(validation_set.records());
}

}  // namespace

void add_training_settings_flags(CLI::App& command, TrainingSettings& settings) {
  command.add_option("--loss", settings.loss, "mse, l1 or wing (Feng et al. 2018), on targets normalised to [-1, 1]")
      ->check(CLI::IsMember({"mse", "l1", "wing"}))
      ->capture_default_str();
  command.add_option("--wing-w", settings.wing.w,
                     "--loss wing: where its log piece ends, in target units (1 = half the network input)")
      ->check(finite_number() & CLI::PositiveNumber)
      ->capture_default_str();
  command.add_option("--wing-epsilon", settings.wing.epsilon,
                     "--loss wing: the log piece's curvature (smaller: steeper near 0), in target units")
      ->check(finite_number() & CLI::PositiveNumber)
      ->capture_default_str();
  command.add_option("--weight-decay", settings.weight_decay, "AdamW's decoupled weight decay")
      ->check(finite_number() & CLI::Range(0.0, 1.0))
      ->capture_default_str();
  command.add_option("--warmup", settings.warmup_epochs, "epochs of linear learning-rate warm-up")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  command.add_option("--test-time-mirror", settings.test_time_mirror,
                     "validate on each face and its mirror image, averaging the two (the model file records it, so "
                     "eval and predict do the same)")
      ->capture_default_str();
  command.add_flag("--sync-batch-norm", settings.sync_batch_norm,
                     "under mpirun, normalise with the statistics of the whole global batch (PyTorch's "
                     "SyncBatchNorm) instead of each rank's share of it")
      ->capture_default_str();
}

TrainingOutcome run_training(const TrainFlags& flags, Device device, Module& model, data::KeypointDataset& train_set,
                             const data::KeypointDataset& validation_set, train::ModelCard card,
                             const TrainingSettings& settings, const std::vector<int>& mirror,
                             const ValidationReading& reading,
                             const TrainingFigures& figures, const nlohmann::json& extra_metrics) {
  KEYNET_CHECK(static_cast<size_t>(flags.batch) <= train_set.size(), "--batch ", flags.batch,
               " is larger than the ", train_set.size(), " training faces; pass a smaller --batch");
  // Under mpirun every rank trains the same model on its share of each global batch (docs/DISTRIBUTED.md).
  const train::World& world = train::world();
  KEYNET_CHECK(flags.batch % world.size == 0, "--batch ", flags.batch, " is the global batch: it must divide evenly "
               "among the ", world.size, " ranks");
  const bool writer = world.rank == 0;
  auto loss = train::make_loss(settings.loss, settings.wing);
  Adam adam(model, {.weight_decay = settings.weight_decay, .decoupled_weight_decay = true});
  train::place(model, *loss, adam, device, parse_impl(flags.impl));
  const auto communicator = train::make_communicator(device);
  std::optional<train::DataParallel> parallel;
  if (communicator) parallel.emplace(*communicator, model);
  if (parallel && settings.sync_batch_norm) synchronise_batch_norms(model, &*parallel);

  add_common_recipe(card, flags, settings, train_set, validation_set);
  // Rank 0 alone claims the run folder (and checks a resumed run's recipe); the others wait for it.
  const auto run_lock = writer ? train::claim_run_folder(flags.out, {flags.resume, flags.force}, [&](const std::string& last) {
    const train::ModelCard found = train::read_card(last);
    train::check_card(found, card, last);
    train::check_same_recipe(found, card, last);
  }) : nullptr;
  train::barrier();
  const train::RunFolder run(flags.out);
  data::DataLoader loader(train_set, {.batch_size = flags.batch / world.size,
                                      .seed = flags.seed,
                                      .drop_last = settings.drop_last,
                                      .augment = settings.augment,
                                      .workers = flags.workers,
                                      .rank = world.rank,
                                      .ranks = world.size});
  if (figures.draw && !flags.resume && writer) save_loader_samples(run.figure("loader_samples.png"), loader, 16, 8);

  const train::FitOptions fit{
      .epochs = flags.epochs,
      .lr = flags.lr,
      .schedule = {train::parse_schedule(flags.schedule), settings.warmup_epochs, settings.final_lr_fraction},
      .device = device,
      .resume = flags.resume,
      .metric_name = reading.metric_name,
      .parallel = parallel ? &*parallel : nullptr};
  train::Trainer trainer(model, *loss, adam, run, card, fit);
  const std::vector<int> test_time_mirror = settings.test_time_mirror ? mirror : std::vector<int>{};
  auto predict_validation = [&] {
    train::Predictions p = train::predict_dataset(model, *loss, validation_set, reading.batch, device, test_time_mirror);
    return reading.reported ? reading.reported(std::move(p)) : p;
  };
  TrainingOutcome outcome;
  outcome.log = trainer.fit(loader, [&] {
    const train::Predictions p = predict_validation();
    return train::Validation{p.loss, reading.metric(p)};
  });
  // The other ranks' part ends with training: rank 0 validates, writes the metrics and draws the figures.
  if (!writer) std::exit(EXIT_SUCCESS);

  outcome.validation = predict_validation();
  outcome.summary = reading.summary(outcome.validation);
  double below_target = -1;
  for (const train::EpochRecord& r : outcome.log) {
    outcome.seconds += r.seconds;
    if (below_target < 0 && r.val_metric < reading.time_to_metric) below_target = outcome.seconds;
  }
  nlohmann::json metrics = {{"device", to_string(device)},     {"commit", card.commit},
                            {"train_seconds", outcome.seconds}, {"epochs", flags.epochs},
                            {"validation", outcome.summary}};
  metrics.update(extra_metrics);
  if (reading.time_to_metric > 0) {
    char name[96];
    std::snprintf(name, sizeof name, "seconds_until_%s_below_%g", reading.metric_name.c_str(), reading.time_to_metric);
    metrics[name] = below_target;
  }
  run.update_metrics(metrics);
  train::write_predictions_csv(run.prediction_file("validation.csv"), outcome.validation, reading.csv_image_name);
  if (figures.draw) {
    save_training_curves(run.figure("training_curves.png"), outcome.log, reading.metric_label);
    save_best_and_worst(run.figure("validation_best_and_worst.png"), outcome.validation,
                        reading.per_face_error(outcome.validation), figures.best_worst_count,
                        figures.best_worst_width);
    if (figures.first_layer_filters)
      save_filter_grid(run.figure("first_layer_filters.png"), named_parameters(model).front().second->value);
  }
  return outcome;
}

}  // namespace keynet::apps
