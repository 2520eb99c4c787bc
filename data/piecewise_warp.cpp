// Piecewise-affine warps: per-triangle transforms, exact pixel ownership, and the inverse warp.
#include "data/piecewise_warp.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "tensor/error.h"

namespace keynet::data {
namespace {

std::array<Point, 3> corners_of(const std::vector<Point>& points, const Triangle& triangle) {
  return {points[triangle[0]], points[triangle[1]], points[triangle[2]]};
}

void check_triangles(const std::vector<Triangle>& triangles, size_t point_count, const char* caller) {
  for (size_t t = 0; t < triangles.size(); ++t)
    for (int index : triangles[t])
      KEYNET_CHECK(index >= 0 && static_cast<size_t>(index) < point_count, caller, ": triangle ", t,
                   " refers to point ", index, " but there are ", point_count, " points");
}

// Whether a triangle owns a point, decided edge by edge. Each edge is tested in one fixed direction,
// from its lexicographically smaller end (smaller x, then smaller y) to the larger, so the two
// triangles sharing an edge evaluate the very same exact sign. A point on the edge's line goes to the
// side the lexicographic direction has on its left-hand (positive) side: that is the side a shift by
// (-tiny, 1) moves it to, one rule for every edge, hence a unique owner even at shared corners. Only
// for triangles not too_thin_to_warp, whose opposite corner is then strictly on one side of each edge.
class Ownership {
 public:
  explicit Ownership(const std::array<Point, 3>& corners) {
    for (int i = 0; i < 3; ++i) {
      Point from = corners[i], to = corners[(i + 1) % 3];
      if (to.x < from.x || (to.x == from.x && to.y < from.y)) std::swap(from, to);
      edges_[i] = {from, to, orientation_sign(from, to, corners[(i + 2) % 3])};
    }
  }

  // The x range of row y inside the triangle in plain floating point: a guess that owns() settles.
  // Empty (first > last) when rounding finds no room.
  std::pair<double, double> approximate_row(double y, double x_first, double x_last) const {
    double first = x_first, last = x_last;
    for (const Edge& edge : edges_) {
      // side(x) = (to.x - from.x)(y - from.y) - (to.y - from.y)(x - from.x), linear in x.
      const double slope = -(edge.to.y - edge.from.y) * edge.inside;
      const double at_zero = ((edge.to.x - edge.from.x) * (y - edge.from.y) + (edge.to.y - edge.from.y) * edge.from.x) *
                             edge.inside;
      if (slope > 0) first = std::max(first, -at_zero / slope);
      else if (slope < 0) last = std::min(last, -at_zero / slope);
      else if (at_zero < 0) return {1, 0};
    }
    return {first, last};
  }

  bool owns(const Point& p) const {
    for (const Edge& edge : edges_) {
      const int side = orientation_sign(edge.from, edge.to, p);
      if (side != edge.inside && !(side == 0 && edge.inside > 0)) return false;
    }
    return true;
  }

 private:
  struct Edge {
    Point from, to;
    int inside = 0;  // the sign of the opposite corner: the triangle's side of this edge
  };
  std::array<Edge, 3> edges_;
};

}  // namespace

bool too_thin_to_warp(const std::array<Point, 3>& corners) {
  const double ux = corners[1].x - corners[0].x, uy = corners[1].y - corners[0].y;
  const double vx = corners[2].x - corners[0].x, vy = corners[2].y - corners[0].y;
  const double wx = vx - ux, wy = vy - uy;
  const double longest_squared = std::max({ux * ux + uy * uy, vx * vx + vy * vy, wx * wx + wy * wy});
  // Rounding puts |det| within ~1e-15 longest_squared of the exact value, far below the threshold, so a
  // triangle that passes is certainly not collinear. Written as a negation so that NaN counts as thin.
  return !(std::abs(ux * vy - uy * vx) > 1e-10 * longest_squared);
}

Affine affine_from_triangle(const std::array<Point, 3>& src, const std::array<Point, 3>& dst) {
  // Columns u, v span the source triangle from src[0]; the linear part L solves L [u v] = [u' v'].
  const double ux = src[1].x - src[0].x, uy = src[1].y - src[0].y;
  const double vx = src[2].x - src[0].x, vy = src[2].y - src[0].y;
  const double det = ux * vy - uy * vx;
  KEYNET_CHECK(!too_thin_to_warp(src),
               "affine_from_triangle: the triangle to map from, (", src[0].x, ", ", src[0].y, "), (", src[1].x, ", ",
               src[1].y, "), (", src[2].x, ", ", src[2].y,
               ") is degenerate (its corners are collinear, coincide, or nearly so), so it defines no affine "
               "transform");
  const double ux2 = dst[1].x - dst[0].x, uy2 = dst[1].y - dst[0].y;
  const double vx2 = dst[2].x - dst[0].x, vy2 = dst[2].y - dst[0].y;
  Affine m;
  m.a = (ux2 * vy - vx2 * uy) / det;
  m.b = (vx2 * ux - ux2 * vx) / det;
  m.d = (uy2 * vy - vy2 * uy) / det;
  m.e = (vy2 * ux - uy2 * vx) / det;
  m.c = dst[0].x - (m.a * src[0].x + m.b * src[0].y);
  m.f = dst[0].y - (m.d * src[0].x + m.e * src[0].y);
  return m;
}

std::vector<Affine> triangle_affines(const std::vector<Point>& src_points, const std::vector<Point>& dst_points,
                                     const std::vector<Triangle>& triangles) {
  KEYNET_CHECK(src_points.size() == dst_points.size(), "triangle_affines: ", src_points.size(),
               " source points but ", dst_points.size(), " destination points");
  check_triangles(triangles, src_points.size(), "triangle_affines");
  std::vector<Affine> out;
  out.reserve(triangles.size());
  for (const Triangle& t : triangles) out.push_back(affine_from_triangle(corners_of(src_points, t), corners_of(dst_points, t)));
  return out;
}

std::vector<PixelSpan> pixels_in_triangle(const std::array<Point, 3>& corners, int width, int height) {
  if (too_thin_to_warp(corners)) return {};
  const Ownership ownership(corners);
  double min_x = corners[0].x, max_x = min_x, min_y = corners[0].y, max_y = min_y;
  for (const Point& p : corners) {
    min_x = std::min(min_x, p.x), max_x = std::max(max_x, p.x);
    min_y = std::min(min_y, p.y), max_y = std::max(max_y, p.y);
  }
  // Clamp in double before converting: corners may lie far outside the image.
  const int x_first = static_cast<int>(std::max(0.0, std::ceil(min_x)));
  const int x_last = static_cast<int>(std::min(width - 1.0, std::floor(max_x)));
  const int y_first = static_cast<int>(std::max(0.0, std::ceil(min_y)));
  const int y_last = static_cast<int>(std::min(height - 1.0, std::floor(max_y)));
  std::vector<PixelSpan> spans;
  for (int y = y_first; y <= y_last; ++y) {
    // A triangle meets a row in one interval, so the owned pixels are contiguous. Floating point
    // guesses a pixel inside and the ends; exact tests then walk from the guesses to the true ends,
    // usually a step or two, so the exact predicates run a few times per row, not once per pixel.
    auto owns = [&](int x) { return ownership.owns({double(x), double(y)}); };
    const auto [first, last] = ownership.approximate_row(y, x_first, x_last);
    const int inside = std::clamp(static_cast<int>(std::lround((first + last) / 2)), x_first, x_last);
    if (first > last || !owns(inside)) {
      // No pixel-wide room by rounding: a sliver or an empty row, scanned pixel by pixel.
      int x = x_first;
      while (x <= x_last && !owns(x)) ++x;
      if (x > x_last) continue;
      const int begin = x;
      while (x <= x_last && owns(x)) ++x;
      spans.push_back({y, begin, x});
      continue;
    }
    int begin = std::clamp(static_cast<int>(std::ceil(first)), x_first, inside);
    if (owns(begin))
      while (begin > x_first && owns(begin - 1)) --begin;
    else
      while (!owns(begin)) ++begin;  // stops at `inside` at the latest
    int end = std::clamp(static_cast<int>(std::floor(last)), inside, x_last);
    if (owns(end))
      while (end < x_last && owns(end + 1)) ++end;
    else
      while (!owns(end)) --end;
    spans.push_back({y, begin, end + 1});
  }
  return spans;
}

Image piecewise_affine_warp(const Image& src, const std::vector<Point>& src_points,
                            const std::vector<Point>& dst_points, const std::vector<Triangle>& triangles,
                            int out_width, int out_height, float fill) {
  KEYNET_CHECK(!src.empty(), "piecewise_affine_warp: empty source image");
  KEYNET_CHECK(out_width > 0 && out_height > 0, "piecewise_affine_warp: output size must be positive, got ",
               out_width, "x", out_height);
  KEYNET_CHECK(src_points.size() == dst_points.size(), "piecewise_affine_warp: ", src_points.size(),
               " source points but ", dst_points.size(), " destination points");
  check_triangles(triangles, src_points.size(), "piecewise_affine_warp");
  Image out(out_width, out_height, src.channels, fill);
  for (const Triangle& t : triangles) {
    const std::array<Point, 3> dst = corners_of(dst_points, t);
    const std::vector<PixelSpan> spans = pixels_in_triangle(dst, out_width, out_height);
    if (spans.empty()) continue;  // also every triangle too thin to warp, which has no transform back
    const Affine dst_to_src = affine_from_triangle(dst, corners_of(src_points, t));
    for (const PixelSpan& span : spans)
      for (int x = span.x_begin; x < span.x_end; ++x) {
        const Point p = dst_to_src.apply(Point{double(x), double(span.y)});
        sample_bilinear(src, p.x, p.y, Border{BorderMode::Replicate, 0}, &out.at(x, span.y));
      }
  }
  return out;
}

}  // namespace keynet::data
