// Readers for the iBUG 300-W landmarks in shared/data/ibug_300w (see its README.txt).
//
// - dlib imglab XML: <dataset><images><image file='...'><box top left width height>
//   <part name='00' x y/>...</box></image></images></dataset>. Coordinates are 0-based pixels;
//   file names resolve relative to the XML's folder. Part names are integers 0..n-1 (any n, any
//   order in the file); an image with several boxes gives one record per box.
// - .pts: "version: 1", "n_points: N", "{", N lines "x y", "}", 1-BASED as in 300-W: we subtract 1.
// - crop_manifest.csv: the images here were cropped and downscaled from the 300-W originals; each row
//   says how, so a point in a stored image maps back to the original photo (crop_to_original).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/landmarks.h"

namespace keynet::data {

constexpr int kIbugPoints = 68;

// expected_parts < 0 accepts any part count. Errors name the file and the line of the element.
std::vector<LandmarkRecord> read_dlib_xml(const std::string& path, int expected_parts = -1);

// Points of a .pts file, converted to 0-based. expected_points < 0 accepts any count.
std::vector<Point> read_pts(const std::string& path, int expected_points = -1);

// A record for the image next to a .pts file (same stem, .jpg or .png), with the XML's box definition
// (box_around_points, 10% margin).
LandmarkRecord read_pts_record(const std::string& pts_path, int expected_points = -1);

struct CropManifestEntry {
  std::string file;                 // relative to the dataset folder, e.g. "afw/1051618982_1.jpg"
  int orig_w = 0, orig_h = 0;       // the original 300-W photo
  int crop_left = 0, crop_top = 0;  // crop window in the original, 0-based pixels
  int crop_w = 0, crop_h = 0;
  int new_w = 0, new_h = 0;         // the stored image
  double scale_x = 1, scale_y = 1;  // new / crop
};
// The 68-point mirror permutation of data/ibug_mirror_permutation_68.txt (a copy of the dataset's
// mirror_permutation_68.txt), compiled into the library so that a model can be mirrored at test time
// without the data or the source tree.
std::vector<int> ibug_mirror_permutation();

// The photo a face was cut from, folder included: "afw/1051618982_2.jpg" -> "afw/1051618982". Faces of
// one photo share its background, lighting and often its people, so they must not straddle a split.
std::string source_photo(const std::string& image_path);

struct PhotoSplit {
  std::vector<LandmarkRecord> train, validation;  // each in the records' order
};
// A seeded choice of whole source photos for validation, taken until they hold `fraction` of the faces;
// every face of a photo lands on the same side. The same (records, fraction, seed) give the same split.
PhotoSplit split_by_photo(const std::vector<LandmarkRecord>& records, double fraction, uint64_t seed);

std::map<std::string, CropManifestEntry> read_crop_manifest(const std::string& path);

// Stored-image pixels -> original-photo pixels (both 0-based):
// x_orig = (x + 0.5) / scale_x - 0.5 + crop_left, likewise for y.
Affine crop_to_original(const CropManifestEntry& entry);

}  // namespace keynet::data
