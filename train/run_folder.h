// A run folder (--out) with a fixed layout, so that any app's results can be read the same way:
//   log.csv                         one row per epoch (see EpochRecord)
//   checkpoints/last.safetensors    model after the newest epoch (+ last.optim.safetensors)
//   checkpoints/best.safetensors    model with the best validation metric so far (+ its optimizer)
//   figures/                        PNG figures
//   metrics.json                    every reported number, by name
//   predictions/                    CSV and JSON outputs of eval and predict
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace keynet::train {

struct EpochRecord {
  int epoch = 0;             // 1-based
  double train_loss = 0;     // mean over the epoch's training batches (augmented, train mode)
  double val_loss = 0;       // the same loss on the validation set, eval mode, no augmentation
  double val_metric = 0;     // the app's validation metric (e.g. the course's normalised MSE)
  double lr = 0;             // learning rate at the epoch's last step
  double seconds = 0;        // wall time of the epoch, validation included
};

class RunFolder {
 public:
  // Creates the folder and its subfolders when missing.
  explicit RunFolder(std::string root);

  const std::string& root() const { return root_; }
  std::string log_csv() const { return root_ + "/log.csv"; }
  std::string last_checkpoint() const { return root_ + "/checkpoints/last.safetensors"; }
  std::string best_checkpoint() const { return root_ + "/checkpoints/best.safetensors"; }
  std::string figure(const std::string& name) const { return root_ + "/figures/" + name; }
  std::string prediction_file(const std::string& name) const { return root_ + "/predictions/" + name; }
  std::string metrics_json() const { return root_ + "/metrics.json"; }

  // The CSV log: rewritten whole (temporary file, then rename) so that a kill never leaves half a row.
  void write_log(const std::vector<EpochRecord>& records) const;
  std::vector<EpochRecord> read_log() const;  // empty when there is no log yet

  // Merges `values` into metrics.json (keys present in both take the new value).
  void update_metrics(const nlohmann::json& values) const;
  nlohmann::json read_metrics() const;  // {} when there is none

 private:
  std::string root_;
};

// Writes text to path through "<path>.tmp" and a rename.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace keynet::train
