// The figures every keypoint app draws: loader samples with their ground truth, training curves, the
// best and worst predictions, and a network's first-layer filters.
#pragma once
#include <string>
#include <vector>

#include "data/loader.h"
#include "train/evaluate.h"
#include "train/run_folder.h"

namespace keynet::apps {

// The first `count` samples of the loader's epoch 0 (as training sees them), ground truth in green.
void save_loader_samples(const std::string& path, data::DataLoader& loader, int count, int columns);

// Training and validation loss per epoch (log scale) beside the validation metric.
void save_training_curves(const std::string& path, const std::vector<train::EpochRecord>& log,
                          const std::string& metric_name);

// The `count` faces with the lowest and the `count` with the highest `errors` (one per face), drawn on
// their original images scaled to `width` pixels wide, best first: ground truth green, prediction red.
void save_best_and_worst(const std::string& path, const train::Predictions& predictions,
                         const std::vector<double>& errors, int count, int width);
// Three rows of `count` faces: the lowest `errors`, the median ones and the highest, each `width` wide.
void save_best_median_worst(const std::string& path, const train::Predictions& predictions,
                            const std::vector<double>& errors, int count, int width);
// The faces `faces` (indices into predictions) in that order, `columns` per row, each `width` wide:
// truth and prediction drawn on the labelled image.
void save_prediction_grid(const std::string& path, const train::Predictions& predictions,
                          const std::vector<size_t>& faces, int columns, int width);

// A grid of a (K, 1, R, S) convolution weight: one cell per filter, each scaled to its own range and
// enlarged `zoom` times.
void save_filter_grid(const std::string& path, const Tensor& weight, int zoom = 8);

}  // namespace keynet::apps
