// The record every dataset reader produces: an image file and its labelled points (pixels of that
// file, 0-based, pixel centres at integers), optionally with a face box.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "data/affine.h"

namespace keynet::data {

struct FaceBox {
  double left = 0, top = 0, width = 0, height = 0;
};

struct LandmarkRecord {
  std::string image_path;        // file to load
  std::vector<Point> points;     // in image_path's pixels
  std::optional<FaceBox> box;    // the face region, when the source defines one
  std::string label_source;      // where the labels came from ("x.asf", "labels.xml:123")
};

// A file (or element) a reader or loader left out, and why.
struct SkippedItem {
  std::string what;    // file name, or "file.xml:line"
  std::string reason;  // the error message
};

// The tight box around `points` enlarged by margin*width on the left and right and margin*height on
// top and bottom (the box definition of the iBUG XML files here, with margin 0.1).
FaceBox box_around_points(const std::vector<Point>& points, double margin = 0.1);

// A fingerprint of a data split (16 hex digits, FNV-1a over each record's folder and file name, points
// and box, in order): a training run records it, and --resume refuses data that changed under it. Only
// the last two path components count, so the same data in another folder has the same fingerprint.
std::string records_checksum(const std::vector<LandmarkRecord>& records);

// Mirror permutations: after flipping x, point i of the mirrored face is point perm[i] of the
// original. Files hold whitespace-separated 0-based integers; lines starting with '#' are comments.
// Checks that the list is a permutation of 0..n-1 and its own inverse (mirroring twice = identity).
std::vector<int> read_mirror_permutation(const std::string& path, int expected_points = -1);
// The same for a permutation's text; errors name `where`.
std::vector<int> parse_mirror_permutation(const std::string& text, const std::string& where, int expected_points = -1);

// Tokenizing helpers for the text readers; errors name `where` ("file:line").
double parse_double(const std::string& token, const std::string& where, const char* field);
int parse_int(const std::string& token, const std::string& where, const char* field);
std::vector<std::string> split_whitespace(const std::string& line);

}  // namespace keynet::data
