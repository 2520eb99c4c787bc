#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace keynet::data {

Affine face_crop_transform(const FaceBox& box, int out_width, int out_height, double enlarge) {
  KEYNET_CHECK(box.width > 0 && box.height > 0, "face crop: box has non-positive size ", box.width, "x", box.height);
  KEYNET_CHECK(enlarge > 0, "face crop: enlarge factor must be positive, got ", enlarge);
  const double side = std::max(box.width, box.height) * enlarge;
  const double scale = out_width / side;
  const Point box_center{box.left + 0.5 * box.width, box.top + 0.5 * box.height};
  // Output pixel centres span [0, W-1]; the output's continuous centre is ((W-1)/2, (H-1)/2).
  return Affine::translation(0.5 * (out_width - 1), 0.5 * (out_height - 1)) * Affine::scaling(scale, scale) *
         Affine::translation(-box_center.x, -box_center.y);
}

Crop crop_face(const Image& image, const FaceBox& box, int out_width, int out_height, double enlarge, Border border) {
  Crop crop;
  crop.transform = face_crop_transform(box, out_width, out_height, enlarge);
  crop.image = warp_affine(image, crop.transform, out_width, out_height, border);
  return crop;
}

AugmentDraw draw_augmentation(const AugmentOptions& o, Rng& rng, bool can_mirror) {
  AugmentDraw d;
  // Always draw every value, in a fixed order, so one option never shifts the others' randomness.
  d.rotation_rad = rng.uniform(-o.max_rotation_deg, o.max_rotation_deg) * M_PI / 180.0;
  d.shift_x = rng.uniform(-o.max_shift_px, o.max_shift_px);
  d.shift_y = rng.uniform(-o.max_shift_px, o.max_shift_px);
  d.scale = rng.uniform(o.min_scale, o.max_scale);
  d.jitter_x = rng.uniform(-o.box_jitter, o.box_jitter);
  d.jitter_y = rng.uniform(-o.box_jitter, o.box_jitter);
  d.jitter_scale = 1.0 + rng.uniform(-o.box_jitter, o.box_jitter);
  d.brightness = rng.uniform(-o.max_brightness, o.max_brightness);
  d.contrast = rng.uniform(o.min_contrast, o.max_contrast);
  const bool mirror = rng.uniform() < o.mirror_probability;
  d.mirror = can_mirror && mirror;
  return d;
}

Affine augmentation_transform(const AugmentDraw& d, int width, int height) {
  const Point center{0.5 * (width - 1), 0.5 * (height - 1)};
  const Affine mirror = d.mirror ? Affine::mirror_x(width) : Affine::identity();
  const Affine similarity = Affine::rotation(d.rotation_rad) * Affine::scaling(d.scale, d.scale);
  return Affine::translation(d.shift_x, d.shift_y) * Affine::about(center, similarity) * mirror;
}

FaceBox jitter_box(const FaceBox& box, const AugmentDraw& d) {
  const double cx = box.left + 0.5 * box.width + d.jitter_x * box.width;
  const double cy = box.top + 0.5 * box.height + d.jitter_y * box.height;
  const double w = box.width * d.jitter_scale, h = box.height * d.jitter_scale;
  return {cx - 0.5 * w, cy - 0.5 * h, w, h};
}

std::vector<Point> permute_points(const std::vector<Point>& points, const std::vector<int>& perm) {
  KEYNET_CHECK(perm.size() == points.size(), "mirror permutation has ", perm.size(), " entries but there are ",
               points.size(), " points");
  std::vector<Point> out(points.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = points[perm[i]];
  return out;
}

std::vector<Point> mirror_points(const std::vector<Point>& points, int width, const std::vector<int>& perm) {
  return permute_points(Affine::mirror_x(width).apply(points), perm);
}

}  // namespace keynet::data
