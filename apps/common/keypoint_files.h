// Faces for the apps that take keypoints from files: an image and its points, read from an IMM .asf, an
// iBUG .pts, or the JSON that the apps' `predict --format json` writes, an array of
//   {"image": path, "width": W, "height": H, "app": name, "points": [[x, y], ...]}
// with points in the image's pixels (0-based, pixel centres at integers). load_face is the one place a
// new source of keypoints (e.g. a model's prediction) joins.
#pragma once
#include <string>
#include <vector>

#include "data/affine.h"
#include "data/image.h"

namespace keynet::apps {

// One entry of a points JSON file.
struct PointsEntry {
  std::string image;
  int width = 0;
  int height = 0;
  std::string app;
  std::vector<data::Point> points;
};

// Throws keynet::Error naming the file for anything unreadable: missing file, invalid JSON, an entry
// without "points" or with a point that is not two numbers.
std::vector<PointsEntry> read_points_json(const std::string& path);
void write_points_json(const std::string& path, const std::vector<PointsEntry>& entries);
std::string points_json(const std::vector<PointsEntry>& entries);  // the file's text

struct Face {
  std::string image_path;
  data::Image image;                // as stored: gray or RGB
  std::vector<data::Point> points;  // in image's pixels
  std::string points_path;          // where the points came from, for messages
};

// `input` is an image or a keypoints file. A keypoints file brings its image: an .asf names it, a .pts
// has it beside it (same stem, .jpg or .png), a JSON with one entry names it (relative paths from the
// working folder, else from the JSON's folder). For an image, the points come from `points_path`
// (.asf, .pts or .json), or when that is empty from a .asf or .pts of the same stem beside it. From a
// JSON, the entry whose "image" is this image (the same file, else the same file name); an entry without
// "image" applies only when it is the JSON's one entry, and a JSON whose one entry names another image
// is refused. IMM .asf coordinates are relative and
// are scaled to the image's actual size. points_path "auto" (kAutomaticPoints) finds the face with the
// shipped 68-point model (detect_landmarks); "imm" (kImmModelPoints) reads an IMM-framed photo with the
// shipped 58-point model (detect_imm_points). Errors name the file at fault.
inline constexpr const char* kAutomaticPoints = "auto";
inline constexpr const char* kImmModelPoints = "imm";
Face load_face(const std::string& input, const std::string& points_path = "");

}  // namespace keynet::apps
