// Points and 2-D affine transforms in pixel coordinates.
//
// Convention used throughout data/: pixel (i, j) of an image has its centre at x = i, y = j (0-based),
// so the image covers [-0.5, W-0.5] x [-0.5, H-0.5]. Every geometric operation (resize, crop, warp,
// mirror) is expressed as an Affine in this convention, so a keypoint moves with exactly the same
// transform as the pixels under it, and predictions map back through the inverse.
#pragma once
#include <string>
#include <vector>

namespace keynet::data {

struct Point {
  double x = 0;
  double y = 0;
};

// x' = a*x + b*y + c
// y' = d*x + e*y + f
struct Affine {
  double a = 1, b = 0, c = 0;
  double d = 0, e = 1, f = 0;

  static Affine identity() { return {}; }
  static Affine translation(double tx, double ty);
  static Affine scaling(double sx, double sy);                 // about the origin
  static Affine rotation(double radians);                      // about the origin; y points down
  // M applied about `center`: T(center) * M * T(-center).
  static Affine about(const Point& center, const Affine& m);
  // Horizontal mirror of an image `width` pixels wide: x' = (width - 1) - x.
  static Affine mirror_x(int width);
  // Resizing an image from (src_w, src_h) to (dst_w, dst_h) pixels, pixel edges onto pixel edges:
  // x' = (x + 0.5) * dst_w / src_w - 0.5.
  static Affine resize(int src_w, int src_h, int dst_w, int dst_h);

  Point apply(const Point& p) const { return {a * p.x + b * p.y + c, d * p.x + e * p.y + f}; }
  std::vector<Point> apply(const std::vector<Point>& points) const;
  double determinant() const { return a * e - b * d; }
  Affine inverse() const;  // throws keynet::Error when singular
  std::string describe() const;
};

// lhs * rhs applies rhs first, then lhs (like matrices acting on column vectors).
Affine operator*(const Affine& lhs, const Affine& rhs);

}  // namespace keynet::data
