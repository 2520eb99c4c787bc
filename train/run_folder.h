// A run folder (--out) with a fixed layout, so that any app's results can be read the same way:
//   log.csv                         one row per epoch (see EpochRecord)
//   checkpoints/last.safetensors    model after the newest epoch (+ last.optim.safetensors)
//   checkpoints/best.safetensors    model with the best validation metric so far (+ its optimizer)
//   figures/                        PNG figures
//   metrics.json                    every reported number, by name
//   predictions/                    CSV and JSON outputs of eval and predict
#pragma once
#include <functional>
#include <memory>
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

// One writer per run folder: an exclusive flock on <root>/.lock, held while the object lives and
// released by the kernel however the process ends (kill -9 included). The lock file holds the
// holder's pid, so a second process is told "run folder X is in use by pid N". Creates the folder.
class RunLock {
 public:
  explicit RunLock(const std::string& root);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// How a training command treats its run folder.
struct RunClaim {
  bool resume = false;  // continue the run there: its last checkpoint must exist
  bool force = false;   // a run already there is moved aside (never deleted) and a new one starts
};

// Claims `root` for a training run before anything is written to it: locks it, and refuses (naming
// the folder and what to do) a --resume without a checkpoint, or a new run where one already is unless
// `claim.force`, which renames the old folder to "<root>.replaced-N" first. `check_resume` is called
// with the last checkpoint's path when resuming, so the caller can refuse a run of another recipe before
// any file is touched.
std::unique_ptr<RunLock> claim_run_folder(const std::string& root, const RunClaim& claim,
                                          const std::function<void(const std::string&)>& check_resume);

// Claims `root` for the results of an eval or a predict: locks it, and refuses a folder whose
// metrics.json belongs to another app (merging would mix two apps' numbers in one folder).
std::unique_ptr<RunLock> claim_results_folder(const std::string& root, const std::string& app);
// Its refusals alone, creating and locking nothing: for a command that checks everything before it
// writes, and claims the folder only when it has a first result to write.
void check_results_folder(const std::string& root, const std::string& app);

}  // namespace keynet::train
