#include "apps/common/cli.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "tensor/error.h"
#include "tensor/version.h"
#include "train/trainer.h"

namespace keynet::apps {

namespace fs = std::filesystem;

void add_data_flag(CLI::App& command, std::string& data) {
  command.add_option("--data", data,
                     "dataset folder holding imm_face_db/ and ibug_300w/ (default: $KEYNET_DATA, then "
                     "../shared/data beside the repository)");
}

fs::path share_dir() {
  std::error_code error;
  const fs::path bin = fs::read_symlink("/proc/self/exe", error).parent_path();
  const fs::path installed = bin.parent_path() / "share" / "keynet";
  if (fs::is_directory(bin / "share" / "keynet")) return bin / "share" / "keynet";  // a build tree
  return installed;
}

std::string default_model_path(const std::string& app) {
  return (share_dir() / "models" / (app + ".safetensors")).string();
}

void add_model_flags(CLI::App& command, ModelFlags& flags) {
  command.add_option("--model", flags.model, "model file (safetensors written by train)")
      ->check(readable_file())
      ->capture_default_str();
  add_device_flags(command, flags.device, flags.impl);
  command.add_option("--test-time-mirror", flags.test_time_mirror,
                     "average each prediction with its mirror image's: model (as the model file says), on, off")
      ->check(CLI::IsMember({"model", "on", "off"}))
      ->capture_default_str();
}

void add_predict_flags(CLI::App& command, PredictFlags& flags) {
  command.add_option("images", flags.images, "image files (JPEG, PNG)")->required()->check(readable_file());
  command.add_option("--format", flags.format, "points on stdout: csv or json")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  command.add_option("--out", flags.out, "run folder; the images with their points drawn go to its predictions/")
      ->capture_default_str();
  command.add_flag("--force", flags.force, "replace drawings already in the run folder");
}

bool use_test_time_mirror(const std::string& flag, const std::map<std::string, std::string>& model_recipe) {
  if (flag != "model") return flag == "on";
  const auto recorded = model_recipe.find("test_time_mirror");
  return recorded != model_recipe.end() && recorded->second == "on";
}

void add_device_flags(CLI::App& command, std::string& device, std::string& impl) {
  command.add_option("--device", device, "auto (the GPU when one is present), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  command.add_option("--impl", impl, "kernels: ref (readable reference), fast (handwritten), vendor (cuDNN/cuBLAS)")
      ->check(CLI::IsMember({"ref", "fast", "vendor"}))
      ->capture_default_str();
}

const CLI::Validator& finite_number() {
  static const CLI::Validator validator(
      [](std::string& text) {
        double value = 0;
        return CLI::detail::lexical_cast(text, value) && std::isfinite(value) ? std::string()
                                                                              : "not a finite number: " + text;
      },
      "FINITE");
  return validator;
}

const CLI::Validator& readable_file() {
  static const CLI::Validator validator(
      [](std::string& path) -> std::string {
        std::error_code error;
        const fs::file_status status = fs::status(path, error);
        if (error && error != std::errc::no_such_file_or_directory) return path + ": " + error.message();
        if (!fs::exists(status)) return path + ": no such file";
        if (fs::is_directory(status)) return path + ": is a folder, not a file";
        if (!fs::is_regular_file(status)) return path + ": not a regular file";
        std::FILE* file = std::fopen(path.c_str(), "rb");
        if (!file) return path + ": cannot be read (" + std::strerror(errno) + ")";
        std::fclose(file);
        return {};
      },
      "FILE");
  return validator;
}

int default_workers() {
  const unsigned cores = std::thread::hardware_concurrency();  // 0 when unknown
  return std::clamp(static_cast<int>(cores / 2), 1, 4);
}

void add_train_flags(CLI::App& command, TrainFlags& flags) {
  add_data_flag(command, flags.data);
  command.add_option("--out", flags.out, "run folder: log.csv, checkpoints/, figures/, metrics.json")
      ->capture_default_str();
  command.add_option("--epochs", flags.epochs, "passes over the training set")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command.add_option("--lr", flags.lr, "Adam's learning rate (the schedule's peak)")
      ->check(finite_number() & CLI::PositiveNumber & CLI::Range(0.0, 10.0))
      ->capture_default_str();
  command.add_option("--batch", flags.batch, "images per training step")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command.add_option("--workers", flags.workers,
                     "threads building each batch in the data loader (the batches are the same for any count)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  command.add_option("--seed", flags.seed, "seeds the weights, the shuffle and the augmentation")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--schedule", flags.schedule, "learning-rate schedule: cosine (to 0 at the end) or constant")
      ->check(CLI::IsMember({"cosine", "constant"}))
      ->capture_default_str();
  command.add_flag("--resume", flags.resume, "continue the run in --out from its last checkpoint (same flags)");
  command.add_flag("--force", flags.force,
                   "when --out already holds a run, move it aside to <out>.replaced-N (never deleted) and start afresh");
  add_device_flags(command, flags.device, flags.impl);
}

std::string find_data_dir(const std::string& flag, const std::string& must_contain) {
  std::vector<std::pair<std::string, std::string>> candidates;  // (where from, path)
  // A place the user named is the only one looked at: falling back elsewhere would hide their mistake.
  const char* env = std::getenv("KEYNET_DATA");
  if (!flag.empty())
    candidates.emplace_back("--data", flag);
  else if (env && *env)
    candidates.emplace_back("$KEYNET_DATA", env);
  else
    candidates.emplace_back("the build tree's link to ../shared/data beside the repository, as no --data or "
                            "$KEYNET_DATA was given",
                            (share_dir() / "data").string());
  std::string looked;
  for (const auto& [from, path] : candidates) {
    if (fs::is_directory(fs::path(path) / must_contain)) return path;
    looked += "\n  - " + path + " (" + from + "): " + (fs::exists(path) ? "no " + must_contain + "/ in it" : "missing");
  }
  KEYNET_FAIL("dataset not found: looked for a folder holding ", must_contain, "/ in:", looked,
              "\npass --data DIR or set KEYNET_DATA");
}

namespace {
// An error's one line; with several ranks it names the rank and stops every rank (none may wait for it).
int fail(const char* message) {
  const train::World& world = train::world();
  if (world.size == 1) {
    std::fprintf(stderr, "error: %s\n", message);
    return 1;
  }
  std::fprintf(stderr, "error on rank %d of %d: %s\n", world.rank, world.size, message);
  std::fflush(stderr);
  train::abort_all_ranks(1);
  return 1;
}
}  // namespace

int run_cli(CLI::App& app, int argc, char** argv) {
  app.set_version_flag("--version", version_line(app.get_name()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const train::Interrupted& stopped) {
    std::fprintf(stderr, "interrupted: %s\n", stopped.what());
    return 128 + stopped.signal;  // the shell's convention for a process ended by a signal
  } catch (const Error& e) {
    return fail(e.what());
  } catch (const std::exception& e) {  // from the standard library (e.g. a filesystem or allocation failure)
    return fail(e.what());
  }
  return 0;
}

}  // namespace keynet::apps
