// The apps as a user runs them (subprocesses of the built binaries): bad flags, a missing dataset and
// a model of another app or input size each give a clear message and a non-zero exit; predict with a
// fixture model reproduces the points recorded for a fixture image (tests/fixtures/generators/
// make_app_fixtures.sh wrote both), and so, within 0.05 px, does that model after convert_model (F16).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "apps/common/gif.h"
#include "apps/common/plots.h"
#include "data/ibug.h"
#include "data/image.h"
#include "io/safetensors.h"
#include "support/shared_data.h"
#include "tensor/rng.h"
#include "test_data_support.h"
#include "train/metrics.h"

using keynet::data::testing::contains;
using keynet::data::testing::fixture;
using keynet::data::testing::read_text;
using keynet::data::testing::TempDir;
using keynet::testing::shared_data_available;
using keynet::testing::shared_data_path;

namespace {

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command; its stdout comes back in `output` (and its stderr where the command sends it there).
Outcome shell(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Outcome outcome;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) outcome.output.append(buffer, n);
  const int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

// Runs "<build dir>/<arguments>" with `environment` (e.g. "KEYNET_DATA=x") in front; stdout, and
// stderr too unless `stderr_too` is false, come back in `output`.
Outcome run(const std::string& arguments, const std::string& environment = "", bool stderr_too = true) {
  return shell("env " + environment + " " + std::string(KEYNET_APP_DIR) + "/" + arguments +
               (stderr_too ? " 2>&1" : " 2>/dev/null"));
}

const std::string kFixtureModel = fixture("models/nose_tip_tiny.safetensors");
const std::string kFixtureImage = fixture("imm/01-1m.jpg");

}  // namespace

TEST_CASE("bad flags are refused with a message naming the flag") {
  struct Case {
    std::string arguments, expected;
  };
  const std::vector<Case> cases = {
      {"nose_tip train --epochs 0", "--epochs"},       {"nose_tip train --epochs -3", "--epochs"},
      {"nose_tip train --epochs many", "--epochs"},    {"nose_tip train --lr -1", "--lr"},
      {"nose_tip train --lr nan", "--lr"},             {"nose_tip train --lr 1e400", "--lr"},
      {"nose_tip train --batch 0", "--batch"},         {"nose_tip train --device tpu", "--device"},
      {"nose_tip train --impl fastest", "--impl"},     {"face_points train --size 100x100", "--size"},
      {"nose_tip train --no-such-flag", "no-such-flag"}, {"nose_tip", "subcommand"},
  };
  // Every numeric flag against the kinds of bad value: negative, zero where it makes no sense, NaN, too
  // large, not a number.
  const std::vector<std::pair<std::string, std::vector<std::string>>> numeric = {
      {"nose_tip train --epochs", {"-1", "0", "nan", "1e12", "ten"}},
      {"nose_tip train --lr", {"-0.1", "0", "nan", "inf", "1e400", "fast"}},
      {"nose_tip train --batch", {"-4", "0", "nan", "99999999999", "many"}},
      {"nose_tip train --seed", {"-1", "nan", "1e30", "x"}},
      {"nose_tip train --weight-decay", {"-0.1", "nan", "2", "heavy"}},
      {"nose_tip train --warmup", {"-1", "nan", "1e12", "x"}},
      {"nose_tip train --augment-strength", {"-1", "nan", "100", "x"}},
      {"ibug_landmarks train --size", {"-32", "0", "nan", "100000", "big"}},
      {"ibug_landmarks train --crop-enlarge", {"-1", "0", "nan", "1e9", "x"}},
      {"face_morph sequence a.jpg b.jpg --frames", {"-5", "0", "1", "nan", "1e9", "x"}},
      {"face_morph sequence a.jpg b.jpg --fps", {"-30", "0", "nan", "1e9", "x"}},
      {"face_morph caricature a.jpg --alpha", {"nan", "inf", "1e9", "x"}},
      {"face_morph midway a.jpg b.jpg --size", {"0x0", "-640x480", "nanxnan", "100000x100000", "5000x5000", "wide"}},
  };
  for (const auto& [command, values] : numeric)
    for (const std::string& value : values) {
      const std::string flag = command.substr(command.rfind(' ') + 1);
      // A value let through would start real work: --data points nowhere, so that it fails at once.
      const bool trains = contains(command, " train ");
      const Outcome outcome = run(command + " " + value + (trains ? " --data /nonexistent/keynet-data" : ""));
      INFO(command, " ", value, " -> exit ", outcome.exit_code, ": ", outcome.output);
      CHECK(outcome.exit_code != 0);
      CHECK(contains(outcome.output, flag));
    }
  for (const Case& c : cases) {
    const Outcome outcome = run(c.arguments);
    INFO(c.arguments, " -> exit ", outcome.exit_code, ": ", outcome.output);
    CHECK(outcome.exit_code != 0);
    CHECK(contains(outcome.output, c.expected));
  }
}

TEST_CASE("a missing dataset is named, with every place looked at") {
  const Outcome outcome = run("nose_tip train --data /nonexistent/keynet-data --epochs 1");
  INFO(outcome.output);
  CHECK(outcome.exit_code == 1);
  CHECK(contains(outcome.output, "dataset not found"));
  CHECK(contains(outcome.output, "/nonexistent/keynet-data (--data): missing"));
  const Outcome from_env = run("nose_tip eval --model " + kFixtureModel, "KEYNET_DATA=/nonexistent/env");
  INFO(from_env.output);
  CHECK(from_env.exit_code == 1);
  CHECK(contains(from_env.output, "/nonexistent/env ($KEYNET_DATA): missing"));
}

TEST_CASE("a model of another app or input size is refused") {
  const Outcome other_app = run("face_points predict --model " + kFixtureModel + " " + kFixtureImage);
  INFO(other_app.output);
  CHECK(other_app.exit_code == 1);
  CHECK(contains(other_app.output, "trained by the app 'nose_tip', not 'face_points'"));

  TempDir dir("apps_size");
  keynet::SafetensorsFile file = keynet::read_safetensors(kFixtureModel);
  file.metadata["keynet.input_width"] = "100";
  file.metadata["keynet.input_height"] = "75";
  keynet::write_safetensors(dir.file("resized.safetensors"), file);
  const Outcome other_size = run("nose_tip predict --model " + dir.file("resized.safetensors") + " " + kFixtureImage);
  INFO(other_size.output);
  CHECK(other_size.exit_code == 1);
  CHECK(contains(other_size.output, "input size 100x75 is not one nose_tip takes"));

  const Outcome missing = run("nose_tip predict --model /nonexistent/model.safetensors " + kFixtureImage);
  CHECK(missing.exit_code != 0);
  CHECK(contains(missing.output, "--model: /nonexistent/model.safetensors: no such file"));
}

TEST_CASE("predict with the fixture model gives the recorded points, as CSV and as JSON") {
  TempDir dir("apps_predict");
  const Outcome csv = run("nose_tip predict --model " + kFixtureModel + " --out " + dir.file("drawn") + " " +
                          kFixtureImage, "", false);
  REQUIRE(csv.exit_code == 0);
  // Rows "image,point,x,y"; compare numbers, the image path differs from the recorded one.
  auto points = [](const std::string& text) {
    std::vector<double> values;
    std::istringstream lines(text);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) {
      std::istringstream fields(line.substr(line.find(',') + 1));
      std::string field;
      while (std::getline(fields, field, ',')) values.push_back(std::stod(field));
    }
    return values;
  };
  const std::vector<double> expected = points(read_text(fixture("models/nose_tip_tiny_01-1m.csv")));
  const std::vector<double> got = points(csv.output);
  REQUIRE(expected.size() == 3);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(2e-5));
  CHECK(std::filesystem::exists(dir.file("drawn/predictions/01-1m_nose_tip.png")));

  const Outcome refused = run("nose_tip predict --format json --model " + kFixtureModel + " --out " +
                              dir.file("drawn") + " " + kFixtureImage);
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.output, "01-1m_nose_tip.png: exists; pass --force to replace it"));
  const Outcome json = run("nose_tip predict --format json --force --model " + kFixtureModel + " --out " +
                           dir.file("drawn") + " " + kFixtureImage, "", false);
  REQUIRE(json.exit_code == 0);
  const nlohmann::json parsed = nlohmann::json::parse(json.output);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["app"] == "nose_tip");
  CHECK(parsed[0]["width"] == 160);
  CHECK(parsed[0]["points"][0][0].get<double>() == doctest::Approx(expected[1]).epsilon(2e-5));
  CHECK(parsed[0]["points"][0][1].get<double>() == doctest::Approx(expected[2]).epsilon(2e-5));
}

TEST_CASE("convert_model stores a model as F16: half the bytes, the same card, the same points within 0.05 px") {
  TempDir dir("convert_model");
  const std::string narrow = dir.file("f16.safetensors");
  const std::string before = read_text(kFixtureModel);
  const Outcome converted = run("convert_model " + kFixtureModel + " --out " + narrow);
  INFO(converted.output);
  REQUIRE(converted.exit_code == 0);
  CHECK(contains(converted.output, narrow + ": 24 F32 tensors stored as F16"));
  CHECK(read_text(kFixtureModel) == before);  // --out leaves the input as it was
  const keynet::SafetensorsFile wide_file = keynet::read_safetensors(kFixtureModel);
  const keynet::SafetensorsFile narrow_file = keynet::read_safetensors(narrow);
  CHECK(narrow_file.metadata == wide_file.metadata);
  for (const auto& [name, entry] : narrow_file.tensors)
    CHECK(entry.dtype == (wide_file.tensors.at(name).dtype == "I64" ? "I64" : "F16"));
  CHECK(std::filesystem::file_size(narrow) < std::filesystem::file_size(kFixtureModel) * 0.55);

  // The fixture image's nose tip, as the F32 model predicts it (the recorded row), and as the F16 one does.
  auto nose = [](const std::string& csv_row) {
    std::istringstream fields(csv_row.substr(csv_row.find(",0,") + 3));
    std::string x, y;
    std::getline(fields, x, ',');
    std::getline(fields, y, ',');
    return std::pair{std::stod(x), std::stod(y)};
  };
  const std::string recorded = read_text(fixture("models/nose_tip_tiny_01-1m.csv"));
  const Outcome predicted = run("nose_tip predict --model " + narrow + " --out " + dir.file("drawn") + " " + kFixtureImage, "", false);
  REQUIRE(predicted.exit_code == 0);
  const auto [x32, y32] = nose(recorded.substr(recorded.find('\n') + 1));
  const auto [x16, y16] = nose(predicted.output.substr(predicted.output.find('\n') + 1));
  MESSAGE("F32 (", x32, ", ", y32, "), F16 (", x16, ", ", y16, ")");
  CHECK(std::hypot(x16 - x32, y16 - y32) < 0.05);

  const Outcome again = run("convert_model " + narrow);
  CHECK(again.exit_code == 0);
  CHECK(contains(again.output, narrow + ": already F16, left as it is"));
  const Outcome other = run("convert_model --dtype BF16 " + narrow);
  CHECK(other.exit_code == 1);
  CHECK(contains(other.output, narrow + ": tensor '0.weight' is already F16; convert the F32 original instead"));

  keynet::SafetensorsFile bare = wide_file;
  bare.metadata = {{"format", "pt"}};  // an optimizer's state, or a bare checkpoint: no model card
  keynet::write_safetensors(dir.file("bare.safetensors"), bare);
  const Outcome refused = run("convert_model " + dir.file("bare.safetensors"));
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.output, "bare.safetensors: not a keynet model file"));
  CHECK(keynet::read_safetensors(dir.file("bare.safetensors")).tensors.at("0.weight").dtype == "F32");
}

namespace {

// The row of RESULTS.md's shipped-model table for `model`: "| `models/x.safetensors` | MSE | px |".
std::pair<double, double> results_row(const std::string& model) {
  std::istringstream lines(read_text(std::string(KEYNET_SOURCE_DIR) + "/RESULTS.md"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("| `" + model + "` |", 0) != 0) continue;
    std::vector<std::string> cells;
    std::istringstream row(line);
    std::string cell;
    while (std::getline(row, cell, '|')) cells.push_back(cell);
    REQUIRE(cells.size() >= 4);
    return {std::stod(cells[2]), std::stod(cells[3])};
  }
  FAIL("RESULTS.md has no row for ", model);
  return {};
}

}  // namespace

TEST_CASE("eval of the shipped models on the validation faces reproduces RESULTS.md") {
  if (!shared_data_available("imm_face_db")) return;
  for (const std::string app : {"nose_tip", "face_points"}) {
    const std::string model = "models/" + app + ".safetensors";
    const auto [mse, px] = results_row(model);
    const Outcome outcome = run(app + " eval --model " + std::string(KEYNET_SOURCE_DIR) + "/" + model, "", false);
    INFO(outcome.output);
    REQUIRE(outcome.exit_code == 0);
    // "...: MSE 0.0005123, mean point distance 12.345 px"
    const size_t at = outcome.output.find("MSE ");
    REQUIRE(at != std::string::npos);
    const double got_mse = std::stod(outcome.output.substr(at + 4));
    const double got_px = std::stod(outcome.output.substr(outcome.output.find("distance ") + 9));
    MESSAGE(app, ": MSE ", got_mse, " (RESULTS.md ", mse, "), ", got_px, " px (RESULTS.md ", px, ")");
    CHECK(got_mse == doctest::Approx(mse).epsilon(1e-3));
    CHECK(got_px == doctest::Approx(px).epsilon(1e-3));
  }
}

TEST_CASE("nose_tip --auxiliary-points: the network learns all 58 points; train, eval and predict report the nose") {
  if (!shared_data_available("imm_face_db")) return;
  TempDir dir("auxiliary");
  const Outcome trained =
      run("nose_tip train --auxiliary-points true --split dev --epochs 1 --out " + dir.file("run"), "", false);
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  const std::string model = dir.file("run/checkpoints/last.safetensors");
  const auto metadata = keynet::read_safetensors(model).metadata;
  CHECK(metadata.at("keynet.num_points") == "58");
  CHECK(metadata.at("keynet.recipe.auxiliary_points") == "on");
  CHECK(keynet::read_safetensors(model).tensors.at("19.weight").shape[0] == 116);  // the output layer: 58 points

  const Outcome evaluated = run("nose_tip eval --split dev --model " + model, "", false);
  INFO(evaluated.output);
  REQUIRE(evaluated.exit_code == 0);
  auto mse_in = [](const std::string& text) { return std::stod(text.substr(text.find("MSE ") + 4)); };
  CHECK(mse_in(evaluated.output) == doctest::Approx(mse_in(trained.output)).epsilon(1e-3));

  const Outcome predicted = run("nose_tip predict --out " + dir.file("drawn") + " --model " + model + " " + kFixtureImage, "", false);
  INFO(predicted.output);
  REQUIRE(predicted.exit_code == 0);
  CHECK(contains(predicted.output, kFixtureImage + ",0,"));
  CHECK(!contains(predicted.output, kFixtureImage + ",1,"));  // the nose tip only
}

TEST_CASE("SIGTERM to a training app saves a checkpoint, exits 143 with a message, and --resume finishes the run") {
  if (!shared_data_available("imm_face_db")) return;
  TempDir dir("sigterm");
  const std::string train = std::string(KEYNET_APP_DIR) + "/nose_tip train --split dev --epochs 12 --out " + dir.file("run");
  // The signal is sent once the first epoch is logged, so that it lands inside training.
  // The wait gives up after 300 s, or as soon as the app has died without logging an epoch.
  const std::string script = train + " 2> " + dir.file("stderr.txt") + " & pid=$!; for i in $(seq 6000); do [ -s " +
                             dir.file("run/log.csv") + " ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; "
                             "done; kill -TERM $pid; wait $pid; echo \"exit=$?\"";
  FILE* pipe = popen(("bash -c '" + script + "'").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[256] = {};
  std::string output;
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  pclose(pipe);
  const std::string messages = read_text(dir.file("stderr.txt"));
  INFO(output, messages);
  CHECK(contains(output, "exit=143"));
  CHECK(contains(messages, "interrupted: SIGTERM in epoch"));
  CHECK(contains(messages, "continue the run with --resume"));
  const Outcome resumed = run("nose_tip train --split dev --epochs 12 --resume --out " + dir.file("run"));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK(contains(resumed.output, "resuming " + dir.file("run")));
  CHECK(contains(resumed.output, "after 12 epochs"));
}

// ---------------------------------------------------------------- ibug_landmarks (the shipped model)

namespace {

const std::string kIbugModel = std::string(KEYNET_SOURCE_DIR) + "/models/ibug_landmarks.safetensors";
const std::string kIbugLabels = fixture("ibug/labels_fixture.xml");

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(read_text(path));
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::istringstream row(line);
    std::string cell;
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

}  // namespace

TEST_CASE("ibug_landmarks kaggle: one row per coordinate, Id = face*136 + 2*point + (x 0, y 1), original pixels") {
  TempDir dir("ibug_kaggle");
  const Outcome kaggle = run("ibug_landmarks kaggle --labels " + kIbugLabels + " --out " + dir.file("kaggle.csv"));
  INFO(kaggle.output);
  REQUIRE(kaggle.exit_code == 0);
  const Outcome eval = run("ibug_landmarks eval --found-boxes false --labels " + kIbugLabels + " --out " + dir.file("eval"));
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);

  const auto rows = read_csv(dir.file("kaggle.csv"));
  const auto faces = read_csv(dir.file("eval/predictions/eval_labels_fixture.csv"));  // stored-image pixels
  REQUIRE(faces.size() == 3);  // header and the fixture XML's two faces
  REQUIRE(rows.size() == 1 + 2 * 136);
  CHECK(rows[0] == std::vector<std::string>{"Id", "Predicted"});
  const auto manifest = keynet::data::read_crop_manifest(fixture("ibug/crop_manifest.csv"));
  for (int face = 0; face < 2; ++face) {
    const keynet::data::Affine to_original = keynet::data::crop_to_original(manifest.at(faces[face + 1][0]));
    for (int point = 0; point < 68; ++point) {
      const keynet::data::Point stored{std::stod(faces[face + 1][1 + 2 * point]), std::stod(faces[face + 1][2 + 2 * point])};
      const keynet::data::Point original = to_original.apply(stored);
      const auto& x_row = rows[1 + face * 136 + 2 * point];
      const auto& y_row = rows[2 + face * 136 + 2 * point];
      REQUIRE(x_row.size() == 2);
      CHECK(std::stoi(x_row[0]) == face * 136 + 2 * point);
      CHECK(std::stoi(y_row[0]) == face * 136 + 2 * point + 1);
      CHECK(std::stod(x_row[1]) == doctest::Approx(original.x).epsilon(1e-5));
      CHECK(std::stod(y_row[1]) == doctest::Approx(original.y).epsilon(1e-5));
    }
  }
  // The first fixture face's crop starts at x = 747 of its photo: the rows are not in stored pixels.
  CHECK(std::stod(rows[1][1]) > 747);
}

TEST_CASE("ibug_landmarks eval's metrics (NME, failure rate in percent, AUC@8, Kaggle MAE) agree with its predictions") {
  // The fixture XML with the second face's box moved off the face, so that one face fails (NME > 8%).
  TempDir dir("ibug_eval_metrics");
  std::filesystem::copy(fixture("ibug"), dir.file("ibug"), std::filesystem::copy_options::recursive);
  std::string xml = read_text(kIbugLabels);
  const std::string box = "<box top='54' left='40' width='114' height='99'>";
  REQUIRE(xml.find(box) != std::string::npos);
  xml.replace(xml.find(box), box.size(), "<box top='54' left='150' width='114' height='99'>");
  const std::string labels = dir.write("ibug/labels_moved.xml", xml);
  // the shipped model against itself as the baseline: the same numbers under "baseline"
  const Outcome eval = run("ibug_landmarks eval --found-boxes false --labels " + labels + " --baseline " +
                           kIbugModel + " --out " + dir.file("eval"));
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);

  const auto rows = read_csv(dir.file("eval/predictions/eval_labels_moved.csv"));
  const auto truth = keynet::data::read_dlib_xml(labels, 68);
  REQUIRE(rows.size() == 3);
  std::vector<double> nme;
  double absolute_error = 0;
  for (int face = 0; face < 2; ++face) {
    const auto& t = truth[face].points;
    double distance = 0;
    for (int point = 0; point < 68; ++point) {
      const double dx = std::stod(rows[face + 1][1 + 2 * point]) - t[point].x;
      const double dy = std::stod(rows[face + 1][2 + 2 * point]) - t[point].y;
      distance += std::hypot(dx, dy);
      absolute_error += std::abs(dx) + std::abs(dy);
    }
    nme.push_back(100 * distance / 68 / std::hypot(t[36].x - t[45].x, t[36].y - t[45].y));
  }
  MESSAGE("per-face NME: ", nme[0], "%, ", nme[1], "%");
  REQUIRE(nme[0] < 8);  // the fixture face with its own box
  REQUIRE(nme[1] > 8);  // the moved box
  const nlohmann::json all = nlohmann::json::parse(read_text(dir.file("eval/metrics.json")))["eval_labels_moved"];
  const nlohmann::json& metrics = all["xml_boxes"];
  CHECK(all["baseline"]["model"] == kIbugModel);
  CHECK(all["baseline"]["xml_boxes"] == metrics);
  CHECK(metrics["faces"] == 2);
  CHECK(metrics["nme_percent"].get<double>() == doctest::Approx((nme[0] + nme[1]) / 2).epsilon(1e-4));
  CHECK(metrics["failure_rate_percent"].get<double>() == doctest::Approx(50));
  // The CED's area up to 8%, over 8: each face counts 1 - NME/8 when under 8, nothing otherwise.
  CHECK(metrics["auc_8"].get<double>() == doctest::Approx((1 - nme[0] / 8) / 2).epsilon(1e-3));
  CHECK(metrics["kaggle_mae_stored_px"].get<double>() == doctest::Approx(absolute_error / (2 * 136)).epsilon(1e-4));
}

TEST_CASE("ibug_landmarks predict finds a face it never trained on by itself; a blank or noise image gets 'no face "
          "found'") {
  // A validation face of the shipped model (split seed 0 holds its photo out of training).
  const std::string photo = fixture("ibug/validation/2113106881_1.jpg");
  TempDir drawn("ibug_predict");
  const Outcome outcome = run("ibug_landmarks predict --format json --out " + drawn.file("run") + " " + photo, "", false);
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  const nlohmann::json found = nlohmann::json::parse(outcome.output);
  REQUIRE(found.size() == 1);
  REQUIRE(found[0]["points"].size() == 68);
  std::vector<keynet::data::Point> points;
  for (const auto& point : found[0]["points"]) points.push_back({point[0].get<double>(), point[1].get<double>()});
  const double nme = keynet::train::face_nme_percent(points, keynet::data::read_pts(fixture("ibug/validation/2113106881_1.pts"), 68));
  MESSAGE("NME ", nme, "% of the outer-eye-corner distance");
  CHECK(nme < 8.0);  // 300-W's failure threshold
  CHECK(std::filesystem::exists(drawn.file("run/predictions/2113106881_1_ibug_landmarks.png")));

  TempDir dir("ibug_no_face");
  keynet::data::Image blank(200, 160, 1), noise(200, 160, 1);
  keynet::Rng rng(7);
  for (int y = 0; y < 160; ++y)
    for (int x = 0; x < 200; ++x) blank.at(x, y) = 128, noise.at(x, y) = static_cast<float>(rng.below(256));
  keynet::data::save_png(dir.file("blank.png"), blank);
  keynet::data::save_png(dir.file("noise.png"), noise);
  for (const char* name : {"blank.png", "noise.png"}) {
    const Outcome none = run("ibug_landmarks predict --out " + dir.file("drawn") + " " + dir.file(name));
    INFO(none.output);
    CHECK(none.exit_code == 1);
    CHECK(contains(none.output, dir.file(name) + ": no face found"));
    CHECK(!contains(none.output, ",67,"));  // no points printed
  }
}

TEST_CASE("ibug_landmarks refuses a model whose head does not give 68 points, or of another app") {
  TempDir dir("ibug_head");
  // predict with `model` on the fixture photo: refused with exit code 1; returns the message.
  auto refused = [](const std::string& model) {
    const Outcome outcome = run("ibug_landmarks predict --model " + model + " " + fixture("ibug/afw/2805422179_4.jpg"));
    INFO(outcome.output);
    CHECK(outcome.exit_code == 1);
    return outcome.output;
  };
  keynet::SafetensorsFile file = keynet::read_safetensors(kIbugModel);
  // the shipped model has the integral head: its 1x1 convolution scores one map per point (68, 128, 1, 1)
  REQUIRE(file.metadata.at("keynet.architecture") == "resnet18-integral");
  auto& weight = file.tensors.at("head.6.weight");
  const std::size_t element = keynet::safetensors_element_size(weight.dtype);  // the shipped model's F16: 2 bytes
  weight.shape = {5, 128, 1, 1};
  weight.data.resize(5 * 128 * element);
  file.tensors.at("head.6.bias").shape = {5};
  file.tensors.at("head.6.bias").data.resize(5 * element);
  keynet::write_safetensors(dir.file("head5.safetensors"), file);
  const std::string wrong_head = refused(dir.file("head5.safetensors"));
  CHECK(contains(wrong_head, "head5.safetensors"));
  CHECK(contains(wrong_head, "head.6.weight"));

  CHECK(contains(refused(std::string(KEYNET_SOURCE_DIR) + "/models/face_points.safetensors"),
                 "trained by the app 'face_points', not 'ibug_landmarks'"));

  // the shipped weights under the pooled fc head's name: its fc tensors are missing
  file.metadata["keynet.architecture"] = "resnet18";
  keynet::write_safetensors(dir.file("pooled.safetensors"), file);
  CHECK(contains(refused(dir.file("pooled.safetensors")), "pooled.safetensors"));
  file.metadata["keynet.architecture"] = "resnet50";
  keynet::write_safetensors(dir.file("resnet50.safetensors"), file);
  CHECK(contains(refused(dir.file("resnet50.safetensors")), "resnet50.safetensors: unknown architecture 'resnet50'"));

  file.metadata["keynet.num_points"] = "5";
  keynet::write_safetensors(dir.file("points5.safetensors"), file);
  CHECK(contains(refused(dir.file("points5.safetensors")), "points5.safetensors"));
}

TEST_CASE("eval of the shipped 68-point model on the test XML reproduces RESULTS.md's NME") {
  if (!shared_data_available("ibug_300w/labels_ibug_300W_test.xml")) return;
  const std::string labels = shared_data_path("ibug_300w/labels_ibug_300W_test.xml");
  // RESULTS.md's row "| `models/ibug_landmarks.safetensors` | the XML's | 3.867 | ..."
  std::istringstream lines(read_text(std::string(KEYNET_SOURCE_DIR) + "/RESULTS.md"));
  std::string line;
  double recorded = -1;
  while (std::getline(lines, line))
    if (line.rfind("| `models/ibug_landmarks.safetensors` | the XML's |", 0) == 0)
      recorded = std::stod(line.substr(line.find("the XML's |") + 11));
  REQUIRE(recorded > 0);
  const Outcome outcome = run("ibug_landmarks eval --found-boxes false --labels " + labels, "", false);
  INFO(outcome.output);
  REQUIRE(outcome.exit_code == 0);
  const size_t at = outcome.output.find("XML boxes: ");
  REQUIRE(at != std::string::npos);
  const double nme = nlohmann::json::parse(outcome.output.substr(at + 11))["nme_percent"].get<double>();
  MESSAGE("test NME ", nme, "% (RESULTS.md ", recorded, "%)");
  CHECK(nme == doctest::Approx(recorded).epsilon(2e-4));
}

TEST_CASE("the main job's report links every figure it finds, each link resolves, captions say what each shows, "
          "share-alike images say so") {
  TempDir dir("report");
  keynet::data::Image pixel(4, 3, 3);
  std::filesystem::create_directories(dir.file("train/nose_tip/figures"));
  std::filesystem::create_directories(dir.file("predictions"));
  std::filesystem::create_directories(dir.file("eval/nose_tip"));
  keynet::data::save_png(dir.file("train/nose_tip/figures/training_curves.png"), pixel);
  keynet::data::save_png(dir.file("predictions/Paul_ibug_landmarks.png"), pixel);
  dir.write("morph.gif", "GIF89a");
  dir.write("eval/nose_tip/metrics.json", "{\"mse\": 1e-3}\n");
  std::filesystem::create_directories(dir.file("eval/face_points"));
  dir.write("eval/face_points/metrics.json",
            R"({"eval": {"model": "models/face_points.safetensors", "split": "final", "validation": )"
            R"({"faces": 48, "mean_point_distance_px": 8.4829, "mse_normalized": 0.00024064}}})");
  dir.write("steps.tsv", "morph\t4\t./build/face_morph sequence Chris.jpeg Paul.jpeg --out morph.gif\n");
  const std::string licenses = dir.write("LICENSES.txt",
                                         "Chris.jpeg  (512x678 JPEG)\n  License: CC BY 2.0\n"
                                         "Paul.jpeg  (512x720 JPEG)\n  License: CC BY-SA 2.0 (share-alike)\n");
  const std::string command = "bash " + std::string(KEYNET_SOURCE_DIR) + "/scripts/report.sh " + dir.file("") + " " +
                              licenses + " > /dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
  const std::string html = read_text(dir.file("index.html"));
  int links = 0;
  for (size_t at = html.find("src=\""); at != std::string::npos; at = html.find("src=\"", at + 1)) {
    const std::string target = html.substr(at + 5, html.find('"', at + 5) - at - 5);
    INFO(target);
    CHECK(std::filesystem::exists(dir.file(target)));
    ++links;
  }
  CHECK(links == 3);
  // Every metrics.json as a table of its fields (dotted keys), never a raw dump.
  CHECK(contains(html, "<td>mse</td><td class=\"n\">0.001</td>"));
  CHECK(contains(html, "<td>eval.validation.mean_point_distance_px</td><td class=\"n\">8.4829</td><td>px</td>"));
  CHECK(!contains(html, "<pre>"));
  CHECK(!contains(html, "{\"mse\""));
  CHECK(contains(html, "./build/face_morph sequence Chris.jpeg Paul.jpeg"));
  CHECK(contains(html, "Part 1, nose tip, training run: training and validation loss per epoch"));
  CHECK(contains(html, "68 points found automatically"));
  CHECK(contains(html, "Morph animation: shapes and colours blended"));
  // The headline table: the evaluation against its bar, with the unit named; no row for the other file.
  CHECK(contains(html, "<table id=\"headline\">"));
  CHECK(contains(html, "<th>measure</th><th>value</th><th>bar</th><th>met?</th>"));
  CHECK(contains(html, "<td>Part 2, 58 points</td><td>models/face_points.safetensors</td><td>final split: persons 33-40</td>"
                       "<td class=\"n\">48</td><td>MSE (normalized)</td><td class=\"n\">2.41e-4</td>"
                       "<td class=\"n\">≤ 2.50e-4</td><td class=\"met\">✓ met</td>"));
  // The parts 1-2 table: MSE and distance in their own columns, units in the headers.
  CHECK(contains(html, "<th>MSE (normalized)</th><th>mean distance (px)</th>"));
  CHECK(contains(html, "<td class=\"n\">2.41e-4</td><td class=\"n\">8.48</td>"));
  CHECK(!contains(html, "<td>Part 1, nose tip</td>"));
  // The notice follows the Paul image and the morph made from Paul.jpeg, not the training curve.
  const size_t notices = [&] {
    size_t n = 0;
    for (size_t at = html.find("CC BY-SA: this image"); at != std::string::npos; at = html.find("CC BY-SA: this image", at + 1)) ++n;
    return n;
  }();
  CHECK(notices == 2);
  const size_t curve = html.find("curves.png"), next_figure = html.find("<figure", curve);
  CHECK(html.substr(curve, next_figure - curve).find("CC BY-SA") == std::string::npos);
}

namespace {

// A picture with visible content: colour gradients, a grid and a dark disc, different for each `seed`.
keynet::data::Image test_picture(int width, int height, int seed) {
  keynet::data::Image image(width, height, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const float dx = x - width / 2.0f, dy = y - height / 2.0f, radius = std::min(width, height) / 4.0f;
      const bool disc = dx * dx + dy * dy < radius * radius, grid = x % 40 == 0 || y % 40 == 0;
      image.at(x, y, 0) = disc ? 30.0f : 255.0f * x / width;
      image.at(x, y, 1) = disc ? 30.0f : grid ? 255.0f : 255.0f * y / height;
      image.at(x, y, 2) = disc ? 60.0f + 40.0f * seed : static_cast<float>((seed * 70 + x + y) % 256);
    }
  return image;
}

}  // namespace

TEST_CASE("the main job's report in headless Chromium: every image loads, the headline table is there, the "
          "screenshot is not blank") {
  std::string browser;
  for (const char* name : {"chromium", "chromium-browser"})
    if (browser.empty() && std::system(("command -v " + std::string(name) + " > /dev/null 2>&1").c_str()) == 0)
      browser = name;
  if (browser.empty()) {
    const char* allow = std::getenv("KEYNET_ALLOW_NO_BROWSER");
    if (allow != nullptr && std::string(allow) == "1") {
      MESSAGE("skipped: no chromium on this machine (KEYNET_ALLOW_NO_BROWSER=1); scripts/install-deps.sh installs it");
      return;
    }
    FAIL("no chromium on this machine: scripts/install-deps.sh installs it (Debian's chromium package; CI runs it), "
         "or set KEYNET_ALLOW_NO_BROWSER=1 to skip this test");
  }
  // A results folder like run.sh's: figures of several sizes, the morph and its frames, metrics.json in
  // the apps' shapes, steps.tsv.
  TempDir dir("report_browser");
  for (const char* folder : {"train/nose_tip/figures", "eval/nose_tip", "eval/face_points", "eval/ibug_landmarks/figures",
                             "train/ibug_landmarks", "predict", "morph_frames", "profile"})
    std::filesystem::create_directories(dir.file(folder));
  keynet::data::save_png(dir.file("train/nose_tip/figures/training_curves.png"), test_picture(640, 480, 0));
  keynet::data::save_png(dir.file("train/nose_tip/figures/loader_samples.png"), test_picture(1600, 300, 1));
  keynet::data::save_png(dir.file("eval/ibug_landmarks/figures/best_median_worst_labels_ibug_300W_test.png"),
                         test_picture(300, 700, 2));
  keynet::data::save_png(dir.file("eval/ibug_landmarks/figures/ced_labels_ibug_300W_test.png"), test_picture(500, 400, 3));
  keynet::data::save_png(dir.file("predict/Paul_ibug_landmarks.png"), test_picture(512, 720, 4));
  std::vector<keynet::data::Image> frames;
  for (int k = 0; k < 5; ++k) {
    frames.push_back(test_picture(320, 240, k));
    char name[32];
    std::snprintf(name, sizeof name, "morph_frames/frame_%03d.png", k);
    keynet::data::save_png(dir.file(name), frames.back());
  }
  keynet::apps::write_gif(dir.file("morph.gif"), frames, keynet::apps::choose_palette(frames), 10);
  dir.write("eval/nose_tip/metrics.json",
            R"({"app": "nose_tip", "eval": {"model": "models/nose_tip.safetensors", "split": "final", "validation": )"
            R"({"faces": 48, "mean_point_distance_px": 13.46, "mse_normalized": 6.14e-4}}})");
  dir.write("eval/face_points/metrics.json",
            R"({"app": "face_points", "eval": {"model": "models/face_points.safetensors", "split": "final", "validation": )"
            R"({"faces": 48, "mean_point_distance_px": 8.4829, "mse_normalized": 0.00024064}}})");
  dir.write("eval/ibug_landmarks/metrics.json",
            R"({"app": "ibug_landmarks", "eval_labels_ibug_300W_test": {"model": "models/ibug_landmarks.safetensors", )"
            R"("labels": "data/ibug_300w/labels_ibug_300W_test.xml", "seconds": 682.2, "xml_boxes": {"faces": 330, )"
            R"("nme_percent": 3.867, "failure_rate_percent": 0.606, "auc_8": 0.517, "kaggle_mae_stored_px": 3.63, )"
            R"("kaggle_mae_original_px": 9.83}, "found_boxes": {"faces": 330, "nme_percent": 3.877, )"
            R"("failure_rate_percent": 0.606, "auc_8": 0.516, "kaggle_mae_stored_px": 3.64, )"
            R"("kaggle_mae_original_px": 9.88, "no_face_answers": 0}}})");
  dir.write("train/ibug_landmarks/metrics.json",
            R"({"app": "ibug_landmarks", "device": "cpu", "commit": "abc", "train_seconds": 95.5, "epochs": 1, )"
            R"("validation": {"faces": 121, "nme_percent": 7.1}, "seconds_until_val_nme_percent_below_6.4": -1})");
  dir.write("steps.tsv", "eval_nose_tip\t3\t./build/nose_tip eval --out eval/nose_tip\n"
                         "morph\t4\t./build/face_morph sequence Chris.jpeg Paul.jpeg --out morph.gif\n");
  REQUIRE(std::system(("bash " + std::string(KEYNET_SOURCE_DIR) + "/scripts/report.sh " + dir.file("") +
                       " > /dev/null").c_str()) == 0);
  const std::string html = read_text(dir.file("index.html"));
  int images = 0;
  for (size_t at = html.find("<img "); at != std::string::npos; at = html.find("<img ", at + 1)) ++images;
  CHECK(images == 9);  // 5 figures, the GIF, 3 of the 5 frames
  CHECK(contains(html, "morph_frames/frame_000.png"));
  CHECK(contains(html, "morph_frames/frame_002.png"));
  CHECK(contains(html, "morph_frames/frame_004.png"));
  CHECK(!contains(html, "morph_frames/frame_001.png"));

  const std::string page = "file://" + std::filesystem::absolute(dir.file("index.html")).string();
  const std::string chromium = "timeout 120 " + browser + " --headless --no-sandbox --disable-gpu --hide-scrollbars " +
                               "--user-data-dir=" + dir.file("profile") + " ";
  // Every image loaded (the page's own count, set on load) and the headline table is there.
  const Outcome dom = shell(chromium + "--dump-dom --virtual-time-budget=5000 " + page + " 2>/dev/null");
  REQUIRE(dom.exit_code == 0);
  const size_t at = dom.output.find("data-images-loaded=\"");
  std::string count;
  if (at != std::string::npos) count = dom.output.substr(at + 20, dom.output.find('"', at + 20) - at - 20);
  const size_t slash = count.find('/');
  if (slash == std::string::npos) FAIL("the page set no data-images-loaded=\"N/M\" on <body>; the DOM Chromium saw:\n", dom.output);
  const int loaded = std::stoi(count.substr(0, slash)), total = std::stoi(count.substr(slash + 1));
  MESSAGE("images loaded in Chromium: ", count);
  CHECK(total == images);
  CHECK(total > 0);
  CHECK(loaded == total);
  CHECK(contains(dom.output, "data-headline=\"yes\""));
  CHECK(contains(dom.output, "<table id=\"headline\">"));
  CHECK(contains(dom.output, "Against the bars"));

  // The page as drawn is not blank: many colours (the pictures) and contrast.
  const std::string shot = dir.file("screenshot.png");
  const Outcome screenshot = shell(chromium + "--screenshot=" + shot + " --window-size=1200,2000 " + page + " 2>&1");
  if (screenshot.exit_code != 0) FAIL("chromium --screenshot failed (exit code ", screenshot.exit_code, "):\n", screenshot.output);
  const keynet::data::Image image = keynet::data::load_image(shot);
  CHECK(image.width == 1200);
  CHECK(image.height == 2000);
  std::set<int> colours;
  double sum = 0, squares = 0;
  const size_t pixels = static_cast<size_t>(image.width) * image.height;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      const float r = image.at(x, y, 0), g = image.at(x, y, image.channels > 1 ? 1 : 0),
                  b = image.at(x, y, image.channels > 2 ? 2 : 0);
      colours.insert(static_cast<int>(r) / 16 << 8 | static_cast<int>(g) / 16 << 4 | static_cast<int>(b) / 16);
      const double luma = 0.299 * r + 0.587 * g + 0.114 * b;
      sum += luma, squares += luma * luma;
    }
  const double mean = sum / pixels, deviation = std::sqrt(std::max(0.0, squares / pixels - mean * mean));
  MESSAGE("screenshot: ", colours.size(), " colours (4 bits a channel), luma mean ", mean, ", deviation ", deviation);
  CHECK(colours.size() >= 200);
  CHECK(deviation > 20);
}

TEST_CASE("a figure's legend goes to the corner its lines leave free") {
  using keynet::apps::legend_corner;
  using keynet::apps::LegendCorner;
  using keynet::apps::Panel;
  using keynet::apps::Series;
  // Cumulative error distributions rise from the bottom left to 1 at the right: the bottom right is free.
  Series ced{"XML boxes", {}, {}}, baseline{"baseline", {}, {}};
  for (int i = 0; i <= 100; ++i) {
    const double x = 0.1 * i;
    ced.x.push_back(x), ced.y.push_back(std::clamp((x - 2) / 3, 0.0, 1.0));
    baseline.x.push_back(x), baseline.y.push_back(std::clamp((x - 2.2) / 3.5, 0.0, 1.0));
  }
  CHECK(legend_corner(Panel{"CED", "NME", "fraction", false, {ced, baseline}}) == LegendCorner::BottomRight);
  // A loss falling over the epochs (log axis) leaves the top right free; five epochs, so the line
  // between two points must be followed too.
  Series loss{"training loss", {1, 2, 3, 4, 5}, {1.0, 0.3, 0.1, 0.05, 0.04}};
  CHECK(legend_corner(Panel{"loss", "epoch", "loss", true, {loss}}) == LegendCorner::TopRight);
  // A straight line falling from the top left to the bottom right leaves the top right and the bottom
  // left: the top right wins the tie.
  Series line{"line", {0, 1}, {1, 0}};
  CHECK(legend_corner(Panel{"line", "x", "y", false, {line}}) == LegendCorner::TopRight);
  // A line rising from the bottom left to the top right leaves the top left and bottom right: the bottom
  // right comes first.
  Series rising{"rising", {0, 1}, {0, 1}};
  CHECK(legend_corner(Panel{"rising", "x", "y", false, {rising}}) == LegendCorner::BottomRight);
  // A line along the bottom and up the right side leaves only the top left.
  Series hook{"hook", {0, 1, 1}, {0, 0, 1}};
  CHECK(legend_corner(Panel{"hook", "x", "y", false, {hook}}) == LegendCorner::TopLeft);
}
