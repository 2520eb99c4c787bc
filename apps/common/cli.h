// Command-line plumbing shared by the apps (CLI11): the training flags every app takes, where the
// data is found, the device and kernel choice, and running a main with clear errors and exit codes.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "tensor/device.h"

namespace keynet::apps {

// The data loader's default thread count: half the cores (the other half run the training step's CPU
// kernels), at least 1 and at most 4 (past that a batch of these small images is built faster than a
// step uses it).
int default_workers();

struct TrainFlags {
  std::string data = "";       // empty: KEYNET_DATA, then ../shared/data beside the repository
  std::string out = "";        // the run folder
  int epochs = 0;
  double lr = 0;
  int batch = 0;
  uint64_t seed = 0;
  std::string device = "auto";
  std::string impl = "fast";
  std::string schedule = "cosine";
  bool resume = false;
  bool force = false;          // move a run already in --out aside and start afresh
  // Threads that build each batch's samples (decode, crop, augment) in the data loader. Not part of
  // the recipe: the batches are the same for any count, so a run may resume with another.
  int workers = default_workers();
};

// Refuses NaN and infinities, which CLI11's range checks let through.
const CLI::Validator& finite_number();
// A file that can be read: says why not (missing, a folder, a symlink loop, no permission) where
// CLI11's ExistingFile says "File does not exist" to all of them.
const CLI::Validator& readable_file();

// --data, --device, --impl: the flags of every subcommand that touches data and a model.
void add_data_flag(CLI::App& command, std::string& data);
void add_device_flags(CLI::App& command, std::string& device, std::string& impl);
// --data, --out, --epochs, --lr, --batch, --seed, --workers, --device, --impl, --schedule, --resume, --force; the
// defaults already in `flags` are shown in --help.
void add_train_flags(CLI::App& command, TrainFlags& flags);

// What every app's eval and predict take: a model file, the device and kernels, and whether each
// prediction is averaged with its mirror image's.
struct ModelFlags {
  std::string model;                       // default_model_path(app) unless given
  std::string device = "auto";
  std::string impl = "fast";
  std::string test_time_mirror = "model";  // model (as its file says) | on | off
};
// Where the shipped models are, found from the running binary, not from paths compiled in: BIN/share/keynet
// in a build tree (CMake links its models/ to the source tree's models/ and its data/ to ../shared/data),
// else BIN/../share/keynet (an installed copy: PREFIX/bin and PREFIX/share/keynet/models).
std::filesystem::path share_dir();
// share_dir()/models/<app>.safetensors: the model shipped for `app`.
std::string default_model_path(const std::string& app);
// --model, --device, --impl, --test-time-mirror.
void add_model_flags(CLI::App& command, ModelFlags& flags);
// What every app's predict takes besides the model: the images, how the points are printed, and the
// run folder whose predictions/ gets the images with their points drawn.
struct PredictFlags {
  std::vector<std::string> images;
  std::string format = "csv";  // points on stdout: csv | json
  std::string out;             // the run folder
  bool force = false;          // replace drawings already there
};
// The images, --format, --out (default: the value already in flags.out), --force.
void add_predict_flags(CLI::App& command, PredictFlags& flags);

// Whether to mirror at test time: "on" or "off" as given; "model": as the model file's recipe records it.
bool use_test_time_mirror(const std::string& flag, const std::map<std::string, std::string>& model_recipe);

// The data folder: the flag, else $KEYNET_DATA, else share_dir()/data (in a build tree, a link to
// ../shared/data beside the repository root; an installed copy has none). When
// that folder does not hold `must_contain` (e.g. "imm_face_db"), the error says where it looked.
std::string find_data_dir(const std::string& flag, const std::string& must_contain);

// Parses the command line and runs the chosen subcommand; keynet::Error and CLI11's errors become a
// message on stderr and exit code 1 (2 for usage errors), never an uncaught exception.
int run_cli(CLI::App& app, int argc, char** argv);

}  // namespace keynet::apps
