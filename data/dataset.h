// Samples and datasets: a LandmarkRecord becomes a fixed-size gray image plus its keypoints, with the
// transform that produced it so predictions map back to the original file's pixels.
#pragma once
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/image.h"
#include "data/landmarks.h"
#include "tensor/rng.h"

namespace keynet::data {

enum class Framing {
  WholeImage,  // resize the whole image to width x height (IMM)
  FaceBox,     // square crop around the record's box (iBUG), see face_crop_transform
};

struct SampleOptions {
  int width = 224, height = 224;
  Framing framing = Framing::FaceBox;
  double crop_enlarge = 1.3;  // FaceBox: square side = max(box w, h) * crop_enlarge
  Border border{};            // what the output shows where it leaves the source image
  AugmentOptions augment{};   // used when make_sample gets an Rng
  std::vector<int> mirror_permutation;  // empty: never mirror
};

struct Sample {
  Image image;                 // gray, width x height, 0..255
  std::vector<Point> points;   // in `image` pixels; after a mirror, already relabelled
  std::string source;          // the image file it came from
  Affine transform;            // original-file pixels -> `image` pixels
  std::vector<int> label_permutation;  // non-empty after a mirror: points[i] is the original's point perm[i]

  // Points given in this sample's pixels and labels (e.g. a prediction) -> original-file pixels and labels.
  std::vector<Point> to_original(const std::vector<Point>& sample_points) const;
};

// Loads the record's image and builds the sample. With `augment_rng` the augmentation of
// options.augment is drawn from it (and mirroring when a permutation is set); without, the plain
// framing. Errors (missing or broken image) name the file.
Sample make_sample(const LandmarkRecord& record, const SampleOptions& options, Rng* augment_rng = nullptr);
// The same from an already loaded (gray or RGB) image.
Sample make_sample(const LandmarkRecord& record, const Image& image, const SampleOptions& options,
                   Rng* augment_rng = nullptr);

// Network targets: t = (2 * x + 1) / width - 1 (and likewise y with height), so the image's outer
// edges (-0.5 and width - 0.5) map to -1 and +1 and its centre to 0. Layout x0, y0, x1, y1, ...
void normalize_points(const std::vector<Point>& points, int width, int height, float* out);
std::vector<Point> denormalize_points(const float* targets, int num_points, int width, int height);

class KeypointDataset {
 public:
  // All records must have the same number of points (checked).
  KeypointDataset(std::vector<LandmarkRecord> records, SampleOptions options);

  size_t size() const { return records_.size(); }
  int num_points() const { return num_points_; }
  const SampleOptions& options() const { return options_; }
  const LandmarkRecord& record(size_t index) const;
  const std::vector<LandmarkRecord>& records() const { return records_; }

  // Thread-safe (reads only). augment_rng null: no augmentation.
  Sample get(size_t index, Rng* augment_rng = nullptr) const;

  // Decodes every record's image once and keeps it in memory as 8-bit gray (exactly the decoder's
  // values, so samples are bitwise the same as without the cache), sparing get() the JPEG decoder,
  // the slowest step. Costs one byte per pixel (IMM: 74 MB, iBUG training set: 232 MB). Uses
  // `threads` threads. Call it before a loader uses the dataset. Images that fail to load stay
  // uncached and are returned; get() then raises their error as usual.
  //
  // reduce > 1 (whole-image framing only) keeps each image box-averaged by that factor and rounded to
  // 8 bits instead, for framings that shrink a photo many times (IMM's 640x480 into 80x60): a sample
  // then warps a reduce^2 times smaller image, and its transform still maps the original file's
  // pixels. Samples differ from uncached ones by the rounding and by where the averaging happens.
  std::vector<SkippedItem> cache_images(int threads = 1, int reduce = 1);
  size_t cached_bytes() const;

 private:
  struct CachedImage {
    int width = 0, height = 0;
    std::vector<unsigned char> pixels;  // gray, row-major
  };
  std::vector<LandmarkRecord> records_;
  SampleOptions options_;
  int num_points_ = 0;
  std::vector<CachedImage> cache_;  // empty, or one per record (empty pixels: not cached)
  int cache_reduce_ = 1;
};

}  // namespace keynet::data
