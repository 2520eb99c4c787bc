// The training loop that every app uses: epochs of batches from a DataLoader; train::step (forward,
// loss, backward, optimizer step) at the rate the schedule (train/schedule.h) gives each step;
// validation after each epoch; a progress line; the CSV log, best and last checkpoints (model and
// optimizer, each written to a temporary file and renamed) in a RunFolder; and --resume, which
// continues a run exactly where its last checkpoint left it (the loader's order and augmentation
// depend only on seed and epoch, so the resumed run is bitwise the run that was never stopped). SIGINT
// (Ctrl-C) or SIGTERM during fit() stops the run after the step in progress, saves the last checkpoint
// with the position inside the epoch, and throws Interrupted; --resume continues from that step, again
// bitwise.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "layers/losses.h"
#include "optim/optimizer.h"
#include "train/distributed.h"
#include "train/model_file.h"
#include "train/run_folder.h"
#include "train/schedule.h"

namespace keynet::train {

// "auto" (the GPU when one is present), "cpu" or "cuda" (an error without a device).
Device resolve_device(const std::string& name);

// Puts the model (parameters, gradients, buffers) on `device` and sets the kernels of model, loss and
// optimizer to `impl`. Call it before the optimizer's first step, which allocates its state beside
// the parameters.
void place(Module& model, Loss& loss, Optimizer& optimizer, Device device, Impl impl);

// The training loss an app's --loss names: "mse", "l1" or "wing" (with `wing`'s w and epsilon), on targets
// normalised to [-1, 1].
std::unique_ptr<Loss> make_loss(const std::string& name, const ops::WingDesc& wing = {});

struct Validation {
  double loss = 0;    // the training loss on the validation set (eval mode, no augmentation)
  double metric = 0;  // the app's metric; lower is better
};

// fit() stopped by SIGINT or SIGTERM after saving its checkpoint; the message says where and how to go on.
class Interrupted : public Error {
 public:
  Interrupted(const std::string& message, int signal) : Error(message), signal(signal) {}
  int signal;
};

struct FitOptions {
  int epochs = 10;
  // The schedule's peak learning rate: the only one. fit() sets the optimizer's rate from it before
  // every step, so the rate the optimizer was built with is not used.
  double lr = 1e-3;
  Schedule schedule;
  Device device = Device::CPU;
  bool resume = false;           // continue from the run folder's last checkpoint
  std::string metric_name = "val_metric";
  // Steps between reads of the training loss from the device, each of which waits for the device to
  // finish: 0 chooses 1 on the CPU (the loss is in host memory already) and 16 on CUDA. The epoch's
  // loss is summed on the host in step order either way, so it is the same for every value, and a
  // non-finite loss is still named by its step: fit() keeps a copy of the state at each read and
  // replays the steps since, reading each, to find it.
  int loss_read_every = 0;
  // Called before each step that writes the run folder ("log", "<file> pending", "<file> rename"), so a
  // test can stop the run at every write point in turn (fault injection); empty in the apps.
  std::function<void(const std::string& step)> before_write = nullptr;
  // Data-parallel training (train/distributed.h): every rank runs fit() with the same options and its
  // own loader shard; the gradients are averaged in each step, rank 0 alone validates and writes the run
  // folder (log, checkpoints), and every rank reads the checkpoint on resume. Null: one process.
  DataParallel* parallel = nullptr;
};

// How far an interrupted epoch got: enough to continue it exactly.
struct PartialEpoch {
  int epoch = 0;          // the epoch in progress (0: none, the checkpoint ends an epoch)
  int steps = 0;          // steps done in it
  size_t position = 0;    // the loader's position after the last of them
  double loss_sum = 0;    // sum of the training loss over its samples so far
  int64_t samples = 0;
  double seconds = 0;
};

class Trainer {
 public:
  Trainer(Module& model, Loss& loss, Optimizer& optimizer, const RunFolder& run, ModelCard card, FitOptions options);
  // Trains to options.epochs; returns the whole log (the resumed part included).
  std::vector<EpochRecord> fit(data::DataLoader& train, const std::function<Validation()>& validate);

 private:
  // Loads the last checkpoint pair; returns the epochs it finished and the epoch it was inside, if any.
  std::pair<int, PartialEpoch> restore();
  void save(const std::string& model_path, int epoch, const PartialEpoch& partial = {});
  bool writer() const { return !options_.parallel || options_.parallel->rank() == 0; }
  void before_write(const std::string& step) const {
    if (options_.before_write) options_.before_write(step);
  }

  Module& model_;
  Loss& loss_;
  Optimizer& optimizer_;
  const RunFolder& run_;
  ModelCard card_;
  FitOptions options_;
  std::vector<EpochRecord> log_;
  double best_metric_ = 0;
  int best_epoch_ = 0;
};

}  // namespace keynet::train
