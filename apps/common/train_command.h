// The `train` command every keypoint app runs, in one place: it claims the run folder (refusing,
// resuming or moving an old run aside as --resume and --force say; a resumed run must have the same
// recipe), builds the loss and AdamW from the settings, trains with train::Trainer, measures the
// model at the end of training on the validation faces and writes metrics.json, the validation
// predictions and the figures. An app brings its data, its network, its model card and how it reads
// a set of predictions.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "data/dataset.h"
#include "layers/module.h"
#include "train/evaluate.h"
#include "train/model_file.h"
#include "train/run_folder.h"

namespace keynet::apps {

// The recipe's loss, optimizer and loop after the command line has had its say.
struct TrainingSettings {
  std::string loss = "mse";          // mse | l1 | wing (train::make_loss)
  // the Wing loss's w and epsilon in the targets' units ([-1, 1] across the network input): by default
  // the paper's 10 and 2 pixels of a 256-pixel input
  ops::WingDesc wing = {.w = 10.0 / 128, .epsilon = 2.0 / 128};
  double weight_decay = 0;           // AdamW's decoupled weight decay
  int warmup_epochs = 0;
  double final_lr_fraction = 0;      // cosine schedule's floor
  bool augment = true;               // the training set's augmentation
  bool drop_last = false;            // drop an epoch's last, smaller batch
  bool test_time_mirror = false;     // validation averages each face with its mirror image's
  bool sync_batch_norm = false;      // under mpirun, BatchNorm's statistics over the global batch
};

// --loss, --wing-w, --wing-epsilon, --weight-decay, --warmup, --test-time-mirror and --sync-batch-norm, their defaults those in
// `settings`.
void add_training_settings_flags(CLI::App& command, TrainingSettings& settings);

// How an app reads predictions on its validation faces.
struct ValidationReading {
  std::string metric_name;  // the log's and the checkpoint's name for `metric`, e.g. "val_mse"
  std::string metric_label; // the training-curves figure's axis
  // The points the app reports out of the network's (e.g. the nose tip of a network that also learns
  // IMM's other points); unchanged when empty.
  std::function<train::Predictions(train::Predictions)> reported;
  std::function<double(const train::Predictions&)> metric;                       // lower is better
  std::function<nlohmann::json(const train::Predictions&)> summary;              // metrics.json's "validation"
  std::function<std::vector<double>(const train::Predictions&)> per_face_error;  // orders best and worst
  std::function<std::string(const std::string& image)> csv_image_name;           // predictions/validation.csv
  int batch = 32;             // faces per forward pass
  double time_to_metric = 0;  // when positive, metrics.json says how many seconds training took to go below it
};

struct TrainingFigures {
  bool draw = true;                  // off for a sweep's many runs
  int best_worst_count = 2;          // faces in each of the best and the worst rows
  int best_worst_width = 320;        // pixels per face
  bool first_layer_filters = false;  // the first convolution's filters
};

struct TrainingOutcome {
  std::vector<train::EpochRecord> log;
  train::Predictions validation;  // the model at the end of training, not the best epoch (picking it
                                  // would look at the validation faces)
  nlohmann::json summary;         // reading.summary of `validation`
  double seconds = 0;             // training and per-epoch validation
};

// `mirror`: the points' mirror relabelling, for test-time mirroring. `card` holds the app's fields and the recipe entries only the app knows; the entries every app has
// (epochs, lr, batch, seed, loss, schedule, warm-up, weight decay, test-time mirror, data checksum)
// and the commit are added here. `extra_metrics` go into metrics.json beside the common ones.
TrainingOutcome run_training(const TrainFlags& flags, Device device, Module& model, data::KeypointDataset& train_set,
                             const data::KeypointDataset& validation_set, train::ModelCard card,
                             const TrainingSettings& settings, const std::vector<int>& mirror,
                             const ValidationReading& reading,
                             const TrainingFigures& figures, const nlohmann::json& extra_metrics = {});

}  // namespace keynet::apps
