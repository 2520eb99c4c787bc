#include "train/run_folder.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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

RunFolder::RunFolder(std::string root) : root_(std::move(root)) {
  KEYNET_CHECK(!root_.empty(), "run folder: empty path");
  for (const char* sub : {"checkpoints", "figures", "predictions"}) {
    std::error_code error;
    fs::create_directories(fs::path(root_) / sub, error);
    KEYNET_CHECK(!error, root_, "/", sub, ": cannot create the run folder: ", error.message());
  }
}

void RunFolder::write_log(const std::vector<EpochRecord>& records) const {
  std::ostringstream out;
  out.precision(17);  // doubles round-trip exactly, so a resumed log equals the uninterrupted one
  out << kLogHeader << "\n";
  for (const EpochRecord& r : records)
    out << r.epoch << ',' << r.train_loss << ',' << r.val_loss << ',' << r.val_metric << ',' << r.lr << ','
        << r.seconds << "\n";
  write_file_atomically(log_csv(), out.str());
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
