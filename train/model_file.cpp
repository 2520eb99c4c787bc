#include "train/model_file.h"

#include <cstdlib>
#include <regex>

#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace keynet::train {

namespace {
constexpr const char* kPrefix = "keynet.";

int to_int(const std::map<std::string, std::string>& metadata, const std::string& key, const std::string& path) {
  const auto found = metadata.find(kPrefix + key);
  KEYNET_CHECK(found != metadata.end(), path, ": not a keynet model file (metadata '", kPrefix, key,
               "' is missing); it may be a bare checkpoint, which load_module reads");
  try {
    return std::stoi(found->second);
  } catch (const std::exception&) {
    KEYNET_FAIL(path, ": metadata '", kPrefix, key, "' is not a number: '", found->second, "'");
  }
}

std::string to_text(const std::map<std::string, std::string>& metadata, const std::string& key, const std::string& path) {
  const auto found = metadata.find(kPrefix + key);
  KEYNET_CHECK(found != metadata.end(), path, ": not a keynet model file (metadata '", kPrefix, key, "' is missing)");
  return found->second;
}
}  // namespace

std::map<std::string, std::string> ModelCard::to_metadata() const {
  std::map<std::string, std::string> m;
  const std::string p = kPrefix;
  m[p + "app"] = app;
  m[p + "architecture"] = architecture;
  m[p + "input_width"] = std::to_string(input_width);
  m[p + "input_height"] = std::to_string(input_height);
  m[p + "input_channels"] = std::to_string(input_channels);
  m[p + "num_points"] = std::to_string(num_points);
  m[p + "framing"] = framing;
  m[p + "pixel_normalization"] = pixel_normalization;
  m[p + "target_normalization"] = target_normalization;
  m[p + "commit"] = commit;
  for (const auto& [key, value] : recipe) m[p + "recipe." + key] = value;
  return m;
}

ModelCard ModelCard::from_metadata(const std::map<std::string, std::string>& metadata, const std::string& path) {
  ModelCard card;
  card.app = to_text(metadata, "app", path);
  card.architecture = to_text(metadata, "architecture", path);
  card.input_width = to_int(metadata, "input_width", path);
  card.input_height = to_int(metadata, "input_height", path);
  card.input_channels = to_int(metadata, "input_channels", path);
  card.num_points = to_int(metadata, "num_points", path);
  card.framing = to_text(metadata, "framing", path);
  card.pixel_normalization = to_text(metadata, "pixel_normalization", path);
  card.target_normalization = to_text(metadata, "target_normalization", path);
  card.commit = to_text(metadata, "commit", path);
  const std::string recipe_prefix = std::string(kPrefix) + "recipe.";
  for (const auto& [key, value] : metadata)
    if (key.rfind(recipe_prefix, 0) == 0) card.recipe[key.substr(recipe_prefix.size())] = value;
  return card;
}

double framing_enlarge(const ModelCard& card, const std::string& path) {
  static const std::regex factor(R"(\* ([0-9]+(\.[0-9]+)?))");
  std::smatch match;
  KEYNET_CHECK(std::regex_search(card.framing, match, factor), path, ": the model's framing '", card.framing,
               "' does not say how much the face box is enlarged");
  return std::stod(match[1].str());
}

void check_card(const ModelCard& found, const ModelCard& expected, const std::string& path) {
  KEYNET_CHECK(found.app == expected.app, path, ": this model was trained by the app '", found.app,
               "', not '", expected.app, "'; use that app, or a model file of '", expected.app, "'");
  KEYNET_CHECK(found.num_points == expected.num_points, path, ": the model predicts ", found.num_points,
               " points, this app needs ", expected.num_points);
  KEYNET_CHECK(found.input_width == expected.input_width && found.input_height == expected.input_height &&
                   found.input_channels == expected.input_channels,
               path, ": the model takes ", found.input_channels, "x", found.input_width, "x", found.input_height,
               " input, this run needs ", expected.input_channels, "x", expected.input_width, "x",
               expected.input_height, " (pass the matching --size, or another model)");
}

namespace {
bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  char* end_a = nullptr;
  char* end_b = nullptr;
  const double x = std::strtod(a.c_str(), &end_a), y = std::strtod(b.c_str(), &end_b);
  return !a.empty() && !b.empty() && *end_a == '\0' && *end_b == '\0' && x == y;
}
}  // namespace

void check_same_recipe(const ModelCard& found, const ModelCard& expected, const std::string& path) {
  std::string differences;
  if (found.architecture != expected.architecture)
    differences += "\n  architecture: the run has '" + found.architecture + "', this command gives '" +
                   expected.architecture + "'";
  for (const auto& [key, value] : expected.recipe) {
    const auto recorded = found.recipe.find(key);
    if (recorded == found.recipe.end())
      differences += "\n  " + key + ": not recorded in the run, this command gives '" + value + "'";
    else if (!same_value(recorded->second, value))
      differences += "\n  " + key + ": the run has '" + recorded->second + "', this command gives '" + value + "'";
  }
  // an entry recorded only when a setting is on (e.g. --sync-batch-norm's) that this command leaves off
  for (const auto& [key, value] : found.recipe)
    if (!expected.recipe.count(key))
      differences += "\n  " + key + ": the run has '" + value + "', this command does not set it";
  KEYNET_CHECK(differences.empty(), path, ": --resume continues the run as it was started, but this command's "
               "recipe differs:", differences, "\npass the run's flags again, or start a new run (another --out, or "
               "--force to move this one aside)");
}

ModelCard read_card(const std::string& path) { return ModelCard::from_metadata(read_safetensors(path).metadata, path); }

void save_model(Module& module, const std::string& path, const ModelCard& card,
                const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> metadata = card.to_metadata();
  metadata.insert(extra.begin(), extra.end());
  save_module(module, path, metadata);
}

std::map<std::string, std::string> load_model(Module& module, const std::string& path, const ModelCard& expected) {
  const SafetensorsFile file = read_safetensors(path);
  check_card(ModelCard::from_metadata(file.metadata, path), expected, path);
  load_module(module, file, path);
  return file.metadata;
}

}  // namespace keynet::train
