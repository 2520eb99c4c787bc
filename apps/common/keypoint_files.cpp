// Keypoint files (IMM .asf, iBUG .pts, predict's JSON) and the images they belong to.
#include "apps/common/keypoint_files.h"

#include "apps/common/ibug_app.h"
#include "apps/common/recipes/recipes.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "data/ibug.h"
#include "data/imm.h"
#include "tensor/error.h"
#include "train/run_folder.h"

namespace keynet::apps {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string extension_of(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

bool is_points_file(const std::string& path) {
  const std::string ext = extension_of(path);
  return ext == ".asf" || ext == ".pts" || ext == ".json";
}

void check_exists(const std::string& path, const char* what) {
  KEYNET_CHECK(fs::is_regular_file(path), path, ": no such ", what, " file");
}

PointsEntry parse_entry(const json& entry, const std::string& where) {
  KEYNET_CHECK(entry.is_object(), where, ": expected an object {\"image\", \"width\", \"height\", \"app\", \"points\"}");
  KEYNET_CHECK(entry.contains("points") && entry["points"].is_array(), where, ": no \"points\" array");
  PointsEntry out;
  if (entry.contains("image")) {
    KEYNET_CHECK(entry["image"].is_string(), where, ": \"image\" is not a string");
    out.image = entry["image"].get<std::string>();
  }
  for (const char* key : {"width", "height"})
    if (entry.contains(key))
      KEYNET_CHECK(entry[key].is_number_integer() && entry[key].get<int>() > 0, where, ": \"", key,
                   "\" is not a positive integer");
  out.width = entry.value("width", 0);
  out.height = entry.value("height", 0);
  if (entry.contains("app") && entry["app"].is_string()) out.app = entry["app"].get<std::string>();
  const json& points = entry["points"];
  for (size_t i = 0; i < points.size(); ++i) {
    const json& p = points[i];
    KEYNET_CHECK(p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number(), where, ": point ", i,
                 " is not a pair of numbers [x, y]: ", p.dump());
    out.points.push_back({p[0].get<double>(), p[1].get<double>()});
  }
  return out;
}

// A JSON entry's image: as written (relative to the working folder, as predict prints it), else
// relative to the JSON file's folder.
std::string resolve_entry_image(const std::string& image, const std::string& json_path) {
  if (image.empty() || fs::exists(image) || fs::path(image).is_absolute()) return image;
  const fs::path beside = fs::path(json_path).parent_path() / image;
  return fs::exists(beside) ? beside.string() : image;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code error;
  return fs::equivalent(a, b, error);
}

// The entry for `image_path`: the one naming the same file, else the one with the same file name, else
// the only entry when it names no image. Points are never applied to an image their entry does not name:
// another photo of the same size would take them without complaint.
const PointsEntry& entry_for_image(const std::vector<PointsEntry>& entries, const std::string& json_path,
                                   const std::string& image_path) {
  KEYNET_CHECK(!entries.empty(), json_path, ": no entries");
  for (const PointsEntry& e : entries)
    if (!e.image.empty() && same_file(resolve_entry_image(e.image, json_path), image_path)) return e;
  const fs::path name = fs::path(image_path).filename();
  const PointsEntry* by_name = nullptr;
  int name_matches = 0;
  for (const PointsEntry& e : entries)
    if (!e.image.empty() && fs::path(e.image).filename() == name) by_name = &e, ++name_matches;
  if (name_matches == 1) return *by_name;
  KEYNET_CHECK(name_matches == 0, json_path, ": ", name_matches, " entries are for images named '", name.string(),
               "' and none is the file ", image_path);
  if (entries.size() == 1) {
    KEYNET_CHECK(entries.front().image.empty(), json_path, ": its one entry is for '", entries.front().image,
                 "', not '", image_path, "'");
    return entries.front();
  }
  KEYNET_FAIL(json_path, ": ", entries.size(), " entries and none is for ", image_path);
}

// The image a keypoints file belongs to.
std::string image_of_points_file(const std::string& points_path) {
  const std::string ext = extension_of(points_path);
  if (ext == ".asf") return data::read_imm_asf(points_path).image_path;
  if (ext == ".pts") return data::read_pts_record(points_path).image_path;
  const std::vector<PointsEntry> entries = read_points_json(points_path);
  KEYNET_CHECK(entries.size() == 1, points_path, ": ", entries.size(),
               " entries; with several, pass the image and this file as its points");
  KEYNET_CHECK(!entries.front().image.empty(), points_path, ": the entry names no \"image\"");
  return resolve_entry_image(entries.front().image, points_path);
}

// A keypoints file beside the image with the same stem, or "".
std::string points_file_beside(const std::string& image_path) {
  for (const char* ext : {".asf", ".pts"}) {
    const fs::path candidate = fs::path(image_path).replace_extension(ext);
    if (fs::is_regular_file(candidate)) return candidate.string();
  }
  return "";
}

std::vector<data::Point> read_points(const std::string& points_path, const std::string& image_path,
                                     const data::Image& image) {
  check_exists(points_path, "keypoints");
  const std::string ext = extension_of(points_path);
  if (ext == ".asf") return data::read_imm_asf(points_path, image.width, image.height).points;
  if (ext == ".pts") return data::read_pts(points_path);
  if (ext == ".json") {
    const std::vector<PointsEntry> entries = read_points_json(points_path);
    const PointsEntry& entry = entry_for_image(entries, points_path, image_path);
    KEYNET_CHECK(entry.width == 0 || (entry.width == image.width && entry.height == image.height), points_path,
                 ": the points are for a ", entry.width, "x", entry.height, " image but ", image_path, " is ",
                 image.width, "x", image.height);
    return entry.points;
  }
  KEYNET_FAIL(points_path, ": not a keypoints file (expected .asf, .pts or .json)");
}

}  // namespace

std::vector<PointsEntry> read_points_json(const std::string& path) {
  check_exists(path, "keypoints");
  std::ifstream in(path);
  json document;
  try {
    document = json::parse(in);
  } catch (const json::exception& e) {
    KEYNET_FAIL(path, ": not valid JSON (", e.what(), ")");
  }
  // A single object is accepted as a one-entry array.
  if (document.is_object()) document = json::array({document});
  KEYNET_CHECK(document.is_array(), path, ": expected an array of {\"image\", \"points\", ...} objects");
  std::vector<PointsEntry> entries;
  for (size_t i = 0; i < document.size(); ++i)
    entries.push_back(parse_entry(document[i], path + ": entry " + std::to_string(i)));
  return entries;
}

std::string points_json(const std::vector<PointsEntry>& entries) {
  json all = json::array();
  for (const PointsEntry& e : entries) {
    json points = json::array();
    for (const data::Point& p : e.points) points.push_back({p.x, p.y});
    all.push_back({{"image", e.image}, {"width", e.width}, {"height", e.height}, {"app", e.app}, {"points", points}});
  }
  return all.dump(2) + "\n";
}

void write_points_json(const std::string& path, const std::vector<PointsEntry>& entries) {
  train::write_file_atomically(path, points_json(entries));
}

Face load_face(const std::string& input, const std::string& points_path) {
  check_exists(input, is_points_file(input) ? "keypoints" : "image");
  Face face;
  if (is_points_file(input)) {
    KEYNET_CHECK(points_path.empty(), input, " is a keypoints file already; pass its image to use ", points_path);
    face.points_path = input;
    face.image_path = image_of_points_file(input);
  } else if (points_path == kAutomaticPoints || points_path == kImmModelPoints) {
    const bool imm = points_path == kImmModelPoints;
    face.image_path = input;
    face.points_path = input + (imm ? " (points found by the 58-point model)" : " (points found by the 68-point model)");
    face.image = data::load_image(input);
    face.points = imm ? detect_imm_points(face_points_recipe(), face.image, input) : detect_landmarks(ibug_landmarks_recipe(), face.image, input);
    return face;
  } else {
    face.image_path = input;
    face.points_path = points_path.empty() ? points_file_beside(input) : points_path;
    KEYNET_CHECK(!face.points_path.empty(), input,
                 ": no keypoints (no .asf or .pts beside it); pass a keypoints file (.asf, .pts or .json)");
  }
  check_exists(face.image_path, "image");
  face.image = data::load_image(face.image_path);
  face.points = read_points(face.points_path, face.image_path, face.image);
  return face;
}

}  // namespace keynet::apps
