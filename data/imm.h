// Reader for the IMM Face Database's AAM shape files (.asf), see shared/data/imm_face_db/README.txt.
//
// Each .asf holds a point count (58) and one tab-separated line per point:
//   <path#> <type> <x rel.> <y rel.> <point#> <connects from> <connects to> [<user1> <user2> <user3>]
// (7 columns in 199 files, 10 in 41). x/y are relative; pixels = relative * image size (640 x 480),
// i.e. keypoint = (x_rel * 640, y_rel * 480) in the 0-based pixel frame of the .jpg. After the points
// comes the host image's file name, resolved next to the .asf. File names are PP-Vg.asf: person PP
// (01..40), view V (1..6), gender g (m/f).
//
// Point order (paths): 0-12 jaw (path 0, from the face's left edge in the image around the chin),
// 13-20 eye on the image's right side (path 1), 21-28 eye on the image's left side (path 2),
// 29-33 and 34-38 eyebrows (paths 3, 4), 39-46 mouth (path 5), 47-57 nose (path 6); 52 is the nose tip.
#pragma once
#include <string>
#include <vector>

#include "data/landmarks.h"

namespace keynet::data {

constexpr int kImmPoints = 58;
constexpr int kImmNoseTip = 52;
constexpr int kImmWidth = 640;
constexpr int kImmHeight = 480;
constexpr int kImmLastTrainPerson = 32;  // persons 1-32 train, 33-40 validation

struct ImmShape {
  std::string asf_path;
  std::string image_path;  // host image, next to the .asf
  int person = 0;          // 1..40
  int view = 0;            // 1..6
  char gender = '?';       // 'm' or 'f'
  std::vector<Point> points;  // 58 points in pixels of the 640x480 image
  std::vector<int> paths;     // path number of each point (0..6)
  int columns = 0;            // 7 or 10 per point line, as found in the file
};

// Throws keynet::Error naming the file and line for anything malformed (wrong point count, wrong
// column count, non-numeric field, relative coordinate outside [0, 1], point numbers out of order,
// missing host image line, file name not of the form PP-Vg.asf).
ImmShape read_imm_asf(const std::string& path, int image_width = kImmWidth, int image_height = kImmHeight);

// Every *.asf in `dir`, sorted by file name. With `skipped` non-null a malformed file is left out and
// listed there; without it the first malformed file throws.
std::vector<ImmShape> read_imm_dir(const std::string& dir, std::vector<SkippedItem>* skipped = nullptr);

// The named splits of IMM's 40 persons. "final": persons 1-32 train, 33-40 validate, as the course
// splits them. "dev": 1-28 / 29-32, and "fold1".."fold4": the rest of 1-32 / persons 8K-7..8K, for
// choosing recipes without looking at persons 33-40.
inline constexpr int kImmPersons = 40;
extern const std::vector<std::string> kImmSplits;
// +1: `person` trains in `split`, -1: validates, 0: unused. Throws for an unknown split name.
int imm_split_side(const std::string& split, int person);

struct ImmSplit {
  std::vector<ImmShape> train;
  std::vector<ImmShape> validation;
};
ImmSplit split_imm(const std::vector<ImmShape>& shapes, const std::string& split = "final");

// The 58-point mirror permutation of data/imm_mirror_permutation_58.txt (see that file for its
// derivation), compiled into the library so that no file is read at run time.
std::vector<int> imm_mirror_permutation();

LandmarkRecord to_record(const ImmShape& shape);
std::vector<LandmarkRecord> to_records(const std::vector<ImmShape>& shapes);

}  // namespace keynet::data
