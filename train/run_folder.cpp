#include "train/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/csv.h"
#include "tensor/error.h"

namespace keynet::train {

namespace fs = std::filesystem;

namespace {
constexpr const char* kLogHeader = "epoch,train_loss,val_loss,val_metric,lr,seconds";
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    KEYNET_CHECK(out, temporary, ": cannot open for writing");
    out << text;
    out.flush();
    KEYNET_CHECK(out, temporary, ": write failed (disk full?); ", path, " is unchanged");
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  KEYNET_CHECK(!error, "cannot rename ", temporary, " to ", path, ": ", error.message());
}

RunLock::RunLock(const std::string& root) {
  std::error_code error;
  fs::create_directories(root, error);
  KEYNET_CHECK(!error, root, ": cannot create the run folder: ", error.message());
  const std::string path = (fs::path(root) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  KEYNET_CHECK(fd_ >= 0, path, ": cannot open the run folder's lock: ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int cause = errno;
    char holder[32] = {};
    const ssize_t got = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    KEYNET_CHECK(cause == EWOULDBLOCK, path, ": cannot lock the run folder: ", std::strerror(cause));
    KEYNET_FAIL("run folder ", root, " is in use by pid ", got > 0 ? std::string(holder) : "unknown",
                " (another train, eval or predict writes it); wait for it to finish, or choose another --out");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    std::fprintf(stderr, "warning: %s: cannot record this process's pid in the lock file\n", path.c_str());
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

namespace {
// Runs `refuse` before a lock file is made, so that a refused command changes nothing, and again under
// the lock, where no other process can change the folder any more. A folder some process holds says
// so first (its .lock exists and is locked), before any other complaint.
std::unique_ptr<RunLock> lock_after_checks(const std::string& root, const std::function<void()>& refuse) {
  std::unique_ptr<RunLock> lock;
  if (fs::exists(fs::path(root) / ".lock")) lock = std::make_unique<RunLock>(root);
  refuse();
  if (!lock) lock = std::make_unique<RunLock>(root);
  refuse();
  return lock;
}

// "<root>.replaced-N" with the first N that is free.
std::string aside_name(const std::string& root) {
  const std::string base = fs::path(root).lexically_normal().string();
  const std::string trimmed = base.size() > 1 && base.back() == '/' ? base.substr(0, base.size() - 1) : base;
  for (int n = 1;; ++n) {
    const std::string candidate = trimmed + ".replaced-" + std::to_string(n);
    if (!fs::exists(fs::symlink_status(candidate))) return candidate;
  }
}
}  // namespace

std::unique_ptr<RunLock> claim_run_folder(const std::string& root, const RunClaim& claim,
                                          const std::function<void(const std::string&)>& check_resume) {
  KEYNET_CHECK(!root.empty(), "--out: empty run folder path");
  KEYNET_CHECK(!fs::exists(root) || fs::is_directory(root), "--out ", root,
               ": is a file, not a run folder; choose a folder");
  const fs::path folder(root);
  const std::string last = (folder / "checkpoints" / "last.safetensors").string();
  auto holds_run = [&] {
    return fs::exists(last) || fs::exists(folder / "checkpoints" / "best.safetensors") || fs::exists(folder / "log.csv");
  };
  auto refuse = [&] {
    if (claim.resume) {
      KEYNET_CHECK(fs::exists(last), "--resume: ", root, " holds no checkpoint to resume (", last,
                   " is missing); start the run without --resume");
      check_resume(last);
      return;
    }
    KEYNET_CHECK(!holds_run() || claim.force, root, " already holds a run (",
                 fs::exists(last) ? last : (folder / "log.csv").string(),
                 "); pass --resume to continue it, --force to move it aside and start afresh, or choose another --out");
  };
  auto lock = lock_after_checks(root, refuse);
  if (claim.resume || !holds_run()) return lock;
  const std::string aside = aside_name(root);
  std::error_code error;
  fs::rename(root, aside, error);
  KEYNET_CHECK(!error, "--force: cannot move ", root, " aside to ", aside, ": ", error.message());
  std::fprintf(stderr, "--force: the run that was in %s is now in %s\n", root.c_str(), aside.c_str());
  lock = std::make_unique<RunLock>(root);  // a fresh folder; the old lock went with the old one
  return lock;
}

void check_results_folder(const std::string& root, const std::string& app) {
  KEYNET_CHECK(!fs::exists(root) || fs::is_directory(root), "--out ", root, ": is a file, not a run folder");
  const std::string metrics_path = (fs::path(root) / "metrics.json").string();
  std::ifstream in(metrics_path);
  if (!in) return;
  nlohmann::json metrics;
  try {
    metrics = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    KEYNET_FAIL(metrics_path, ": not valid JSON (", e.what(), "); eval and predict would add their results to it");
  }
  KEYNET_CHECK(!metrics.contains("app") || metrics["app"] == app, "--out ", root, ": holds results of the app ",
               metrics["app"].dump(), "; ", app, " writes eval and predict results only into its own run folders");
}

std::unique_ptr<RunLock> claim_results_folder(const std::string& root, const std::string& app) {
  return lock_after_checks(root, [&] { check_results_folder(root, app); });
}

RunFolder::RunFolder(std::string root) : root_(std::move(root)) {
  KEYNET_CHECK(!root_.empty(), "run folder: empty path");
  for (const char* sub : {"checkpoints", "figures", "predictions"}) {
    std::error_code error;
    fs::create_directories(fs::path(root_) / sub, error);
    KEYNET_CHECK(!error, root_, "/", sub, ": cannot create the run folder: ", error.message());
  }
}

void RunFolder::write_log(const std::vector<EpochRecord>& records) const {
  CsvWriter csv(17);  // doubles round-trip exactly, so a resumed log equals the uninterrupted one
  csv.row({"epoch", "train_loss", "val_loss", "val_metric", "lr", "seconds"});  // kLogHeader
  for (const EpochRecord& r : records)
    (csv << r.epoch << r.train_loss << r.val_loss << r.val_metric << r.lr << r.seconds).end_row();
  write_file_atomically(log_csv(), csv.str());
}

std::vector<EpochRecord> RunFolder::read_log() const {
  std::ifstream in(log_csv());
  if (!in) return {};
  std::string line;
  std::getline(in, line);
  KEYNET_CHECK(line == kLogHeader, log_csv(), ": unexpected header '", line, "', expected '", kLogHeader, "'");
  std::vector<EpochRecord> records;
  for (int line_number = 2; std::getline(in, line); ++line_number) {
    if (line.empty()) continue;
    EpochRecord r;
    char comma[5];
    std::istringstream fields(line);
    fields >> r.epoch >> comma[0] >> r.train_loss >> comma[1] >> r.val_loss >> comma[2] >> r.val_metric >>
        comma[3] >> r.lr >> comma[4] >> r.seconds;
    KEYNET_CHECK(fields && std::string(comma, 5) == ",,,,,", log_csv(), ":", line_number, ": malformed row '",
                 line, "'");
    records.push_back(r);
  }
  return records;
}

void RunFolder::update_metrics(const nlohmann::json& values) const {
  nlohmann::json metrics = read_metrics();
  metrics.merge_patch(values);
  write_file_atomically(metrics_json(), metrics.dump(2) + "\n");
}

nlohmann::json RunFolder::read_metrics() const {
  std::ifstream in(metrics_json());
  if (!in) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    KEYNET_FAIL(metrics_json(), ": not valid JSON (", e.what(), ")");
  }
}

}  // namespace keynet::train
