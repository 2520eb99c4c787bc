// Eye-based similarity alignment, landmark checks, canvas frame points and mean shapes.
#include "data/face_align.h"

#include <algorithm>
#include <cmath>
#include <utility>

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
  KEYNET_CHECK(static_cast<long long>(width) * height <= kMaxCanvasPixels, "canvas of ", width, "x", height, ": ",
               static_cast<long long>(width) * height, " pixels, more than the ", kMaxCanvasPixels,
               " (4096x4096) a canvas may have");
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

void check_face_points(const std::vector<Point>& points, int width, int height, const std::string& where) {
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    KEYNET_CHECK(std::isfinite(p.x) && std::isfinite(p.y), where, ": point ", i, " (", p.x, ", ", p.y,
                 ") is not a finite position");
    KEYNET_CHECK(p.x >= -width && p.x <= 2.0 * width - 1 && p.y >= -height && p.y <= 2.0 * height - 1, where,
                 ": point ", i, " (", p.x, ", ", p.y, ") lies more than one image side outside the ", width, "x",
                 height, " image; are these the points of another image?");
  }
  // A closed mouth or eye puts these iBUG points on top of each other in about half of 300-W's files.
  static const std::vector<std::pair<size_t, size_t>> kIbugClosing = {{61, 67}, {62, 66}, {63, 65}, {37, 41},
                                                                      {38, 40}, {43, 47}, {44, 46}};
  auto may_meet = [&](size_t i, size_t j) {
    return points.size() == 68 &&
           std::find(kIbugClosing.begin(), kIbugClosing.end(), std::pair{i, j}) != kIbugClosing.end();
  };
  for (size_t i = 0; i < points.size(); ++i)
    for (size_t j = i + 1; j < points.size(); ++j)
      KEYNET_CHECK(std::hypot(points[i].x - points[j].x, points[i].y - points[j].y) > 1e-3 || may_meet(i, j), where,
                   ": points ", i, " and ", j, " are both at (", points[i].x, ", ", points[i].y,
                   "); a morph needs each landmark at its own place");
  // The spreads along and across the main axis: square roots of the covariance's eigenvalues.
  Point mean;
  for (const Point& p : points) mean.x += p.x / points.size(), mean.y += p.y / points.size();
  double xx = 0, xy = 0, yy = 0;
  for (const Point& p : points) {
    const double dx = p.x - mean.x, dy = p.y - mean.y;
    xx += dx * dx, xy += dx * dy, yy += dy * dy;
  }
  const double half_trace = (xx + yy) / 2, root = std::hypot((xx - yy) / 2, xy);
  const double along = std::sqrt(half_trace + root), across = std::sqrt(std::max(0.0, half_trace - root));
  const double count = std::max<double>(1, points.size());
  KEYNET_CHECK(across > 0.01 * along, where, ": the ", points.size(), " points lie on (nearly) one line (spread ",
               across / std::sqrt(count), " px across it, ", along / std::sqrt(count),
               " px along it); they cannot outline a face");
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
