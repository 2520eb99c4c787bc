// Face crops and augmentation. Every geometric step is one Affine (source pixels -> output pixels),
// composed before any pixel is touched, so the image is resampled once and the keypoints move with
// exactly the transform the pixels saw.
#pragma once
#include <vector>

#include "data/image.h"
#include "data/landmarks.h"
#include "tensor/rng.h"

namespace keynet::data {

// The crop that turns `box` into an out_width x out_height image: the square of side
// max(box.width, box.height) * enlarge, centred on the box centre, fills the output (width-wise; the
// scale is the same in y). The square may leave the image: warp_affine pads with its border mode.
Affine face_crop_transform(const FaceBox& box, int out_width, int out_height, double enlarge);

struct Crop {
  Image image;
  Affine transform;  // source pixels -> crop pixels; transform.inverse() maps predictions back
};
Crop crop_face(const Image& image, const FaceBox& box, int out_width, int out_height, double enlarge,
               Border border = {});

struct AugmentOptions {
  double max_rotation_deg = 15;   // uniform in [-max, max], about the output centre
  double max_shift_px = 10;       // uniform in [-max, max] per axis, in output pixels
  double min_scale = 0.9, max_scale = 1.1;
  double box_jitter = 0.05;       // box centre moves up to this fraction of its size; size scales by 1 +- it
  double max_brightness = 20;     // added, uniform in [-max, max], on the 0..255 scale
  double min_contrast = 0.8, max_contrast = 1.2;
  double mirror_probability = 0.5;  // used only when a mirror permutation is given
};

// One draw of the random parameters; the same draw always gives the same sample.
struct AugmentDraw {
  double rotation_rad = 0, shift_x = 0, shift_y = 0, scale = 1;
  double jitter_x = 0, jitter_y = 0, jitter_scale = 1;  // box centre offset (fractions of box size), size factor
  double brightness = 0, contrast = 1;
  bool mirror = false;
};
AugmentDraw draw_augmentation(const AugmentOptions& options, Rng& rng, bool can_mirror);

// Mirror (if drawn) then scale, rotation and shift, all about the centre of a width x height output.
Affine augmentation_transform(const AugmentDraw& draw, int width, int height);
FaceBox jitter_box(const FaceBox& box, const AugmentDraw& draw);

// out[i] = points[perm[i]]: the relabelling that goes with a horizontal mirror.
std::vector<Point> permute_points(const std::vector<Point>& points, const std::vector<int>& perm);
// Flip x in an image `width` pixels wide and relabel left/right with `perm`.
std::vector<Point> mirror_points(const std::vector<Point>& points, int width, const std::vector<int>& perm);

}  // namespace keynet::data
