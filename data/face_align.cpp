// Eye-based similarity alignment, canvas frame points and mean shapes.
#include "data/face_align.h"

#include <cmath>

#include "tensor/error.h"

namespace keynet::data {
namespace {

Point centroid(const std::vector<Point>& points, int first, int last) {
  Point sum;
  for (int i = first; i <= last; ++i) sum.x += points[i].x, sum.y += points[i].y;
  const double count = last - first + 1;
  return {sum.x / count, sum.y / count};
}

}  // namespace

Canvas make_canvas(int width, int height) {
  KEYNET_CHECK(width >= 16 && height >= 16, "canvas of ", width, "x", height, " is too small to hold a face");
  return {width, height, {0.43 * width, 0.48 * height}, {0.57 * width, 0.48 * height}};
}

EyeCentres eye_centres(const std::vector<Point>& points, const std::string& where) {
  if (points.size() == 58) return {centroid(points, 21, 28), centroid(points, 13, 20)};  // IMM
  if (points.size() == 68) return {centroid(points, 36, 41), centroid(points, 42, 47)};  // iBUG 300-W
  KEYNET_FAIL(where, ": ", points.size(), " points, but finding the eyes needs the 58 of IMM or the 68 of iBUG");
}

Affine similarity_from_two_points(const Point& from_1, const Point& from_2, const Point& to_1, const Point& to_2) {
  // As complex numbers z' = s z + t with s = (to_2 - to_1) / (from_2 - from_1).
  const double fx = from_2.x - from_1.x, fy = from_2.y - from_1.y;
  const double tx = to_2.x - to_1.x, ty = to_2.y - to_1.y;
  const double norm = fx * fx + fy * fy;
  KEYNET_CHECK(norm > 0, "similarity_from_two_points: the two source points coincide at (", from_1.x, ", ", from_1.y, ")");
  const double re = (tx * fx + ty * fy) / norm, im = (ty * fx - tx * fy) / norm;
  Affine m;
  m.a = re, m.b = -im, m.d = im, m.e = re;
  m.c = to_1.x - (m.a * from_1.x + m.b * from_1.y);
  m.f = to_1.y - (m.d * from_1.x + m.e * from_1.y);
  return m;
}

Affine eye_alignment(const std::vector<Point>& points, const Canvas& canvas, const std::string& where) {
  const EyeCentres eyes = eye_centres(points, where);
  KEYNET_CHECK(eyes.left.x != eyes.right.x || eyes.left.y != eyes.right.y, where,
               ": both eye centres are at (", eyes.left.x, ", ", eyes.left.y, "); the points cannot be a face");
  return similarity_from_two_points(eyes.left, eyes.right, canvas.left_eye, canvas.right_eye);
}

std::vector<Point> canvas_frame_points(int width, int height) {
  const double left = -0.5, top = -0.5, right = width - 0.5, bottom = height - 0.5;
  const double mid_x = (left + right) / 2, mid_y = (top + bottom) / 2;
  return {{left, top}, {mid_x, top}, {right, top}, {right, mid_y}, {right, bottom}, {mid_x, bottom}, {left, bottom}, {left, mid_y}};
}

std::vector<Point> mean_shape(const std::vector<std::vector<Point>>& shapes) {
  KEYNET_CHECK(!shapes.empty(), "mean_shape: no shapes to average");
  std::vector<Point> mean(shapes.front().size());
  for (const std::vector<Point>& shape : shapes) {
    KEYNET_CHECK(shape.size() == mean.size(), "mean_shape: a shape of ", shape.size(), " points among shapes of ",
                 mean.size());
    for (size_t i = 0; i < shape.size(); ++i) mean[i].x += shape[i].x, mean[i].y += shape[i].y;
  }
  for (Point& p : mean) p.x /= shapes.size(), p.y /= shapes.size();
  return mean;
}

}  // namespace keynet::data
