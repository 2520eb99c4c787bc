// Morphing geometry: exact predicates, Delaunay triangulation (random, co-circular, collinear and
// duplicate points), per-triangle affines, pixel ownership, piecewise-affine warps and morph frames.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "data/delaunay.h"
#include "data/image.h"
#include "data/morph.h"
#include "data/piecewise_warp.h"
#include "tensor/rng.h"
#include "test_data_support.h"

using namespace keynet::data;
using namespace keynet::data::testing;

namespace {

using Real = long double;

Real cross(const Point& a, const Point& b, const Point& c) {
  return (Real(b.x) - a.x) * (Real(c.y) - a.y) - (Real(b.y) - a.y) * (Real(c.x) - a.x);
}

// Monotone chain; strict corners only (collinear points dropped), counter-clockwise with y up.
std::vector<Point> convex_hull(std::vector<Point> points) {
  std::sort(points.begin(), points.end(), [](const Point& p, const Point& q) { return p.x < q.x || (p.x == q.x && p.y < q.y); });
  if (points.size() < 3) return points;
  std::vector<Point> hull(2 * points.size());
  size_t k = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  for (size_t i = points.size() - 1, lower = k + 1; i-- > 0;) {
    while (k >= lower && cross(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  hull.resize(k - 1);
  return hull;
}

// A fan from the first corner: relative coordinates keep a tiny polygon far from the origin accurate.
Real polygon_area(const std::vector<Point>& polygon) {
  Real twice = 0;
  for (size_t i = 1; i + 1 < polygon.size(); ++i) twice += cross(polygon[0], polygon[i], polygon[i + 1]);
  return std::abs(twice) / 2;
}

bool on_segment(const Point& p, const Point& a, const Point& b) {
  const Real length2 = (Real(b.x) - a.x) * (b.x - a.x) + (Real(b.y) - a.y) * (b.y - a.y);
  return std::abs(cross(a, b, p)) <= 1e-12L * length2 && std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x) &&
         std::min(a.y, b.y) <= p.y && p.y <= std::max(a.y, b.y);
}

// In-circle determinant of d against a, b, c (positively oriented), divided by its permanent: > 0 is
// inside. Evaluated in long double, independently of the library's exact predicate.
Real relative_incircle(const Point& a, const Point& b, const Point& c, const Point& d) {
  const Real adx = Real(a.x) - d.x, ady = Real(a.y) - d.y, bdx = Real(b.x) - d.x, bdy = Real(b.y) - d.y,
             cdx = Real(c.x) - d.x, cdy = Real(c.y) - d.y;
  const Real al = adx * adx + ady * ady, bl = bdx * bdx + bdy * bdy, cl = cdx * cdx + cdy * cdy;
  const Real det = al * (bdx * cdy - cdx * bdy) + bl * (cdx * ady - adx * cdy) + cl * (adx * bdy - bdx * ady);
  const Real permanent = al * (std::abs(bdx * cdy) + std::abs(cdx * bdy)) +
                         bl * (std::abs(cdx * ady) + std::abs(adx * cdy)) + cl * (std::abs(adx * bdy) + std::abs(bdx * ady));
  return permanent == 0 ? 0 : det / permanent;
}

struct MeshCheck {
  std::string problem;            // empty when the mesh is a Delaunay triangulation of the points
  Real worst_incircle = -1;       // the largest relative in-circle value of a non-vertex point
  Real area_error = 0;            // |sum of triangle areas - hull area| / hull area
};

// Everything a Delaunay triangulation of `points` must satisfy; the first violation is reported.
MeshCheck check_delaunay(const std::vector<Point>& points, const std::vector<Triangle>& triangles) {
  MeshCheck check;
  auto fail = [&](const std::string& why) {
    if (check.problem.empty()) check.problem = why;
  };
  std::map<std::pair<double, double>, int> first_index;
  for (int i = 0; i < static_cast<int>(points.size()); ++i) first_index.try_emplace({points[i].x, points[i].y}, i);
  std::vector<int> unique;
  for (const auto& [xy, i] : first_index) unique.push_back(i);

  std::vector<Point> unique_points;
  for (int i : unique) unique_points.push_back(points[i]);
  const std::vector<Point> hull = convex_hull(unique_points);
  const Real hull_area = hull.size() >= 3 ? polygon_area(hull) : 0;
  if (hull_area == 0) {
    if (!triangles.empty()) fail("collinear points gave " + std::to_string(triangles.size()) + " triangles");
    return check;
  }
  int on_boundary = 0;
  for (const Point& p : unique_points)
    for (size_t i = 0; i < hull.size(); ++i)
      if (on_segment(p, hull[i], hull[(i + 1) % hull.size()])) {
        ++on_boundary;
        break;
      }
  const size_t expected_count = 2 * unique.size() - 2 - on_boundary;
  if (triangles.size() != expected_count)
    fail(std::to_string(triangles.size()) + " triangles, expected 2n - 2 - h = " + std::to_string(expected_count));

  std::set<std::pair<int, int>> directed_edges;
  std::set<int> vertices;
  Real area = 0;
  for (const Triangle& t : triangles) {
    for (int i = 0; i < 3; ++i) {
      const int v = t[i];
      if (v < 0 || v >= static_cast<int>(points.size())) {
        fail("index out of range");
        return check;
      }
      if (first_index.at({points[v].x, points[v].y}) != v) fail("a duplicate's later copy is a vertex");
      if (!directed_edges.insert({v, t[(i + 1) % 3]}).second) fail("a directed edge is used twice (overlap)");
      vertices.insert(v);
    }
    const Real c = cross(points[t[0]], points[t[1]], points[t[2]]);
    if (c >= 0) fail(c == 0 ? "a triangle has zero area" : "a triangle is clockwise on screen");
    area += std::abs(c) / 2;
    for (int i : unique) {
      if (i == t[0] || i == t[1] || i == t[2]) continue;
      // (t0, t2, t1) has positive cross product
      check.worst_incircle =
          std::max(check.worst_incircle, relative_incircle(points[t[0]], points[t[2]], points[t[1]], points[i]));
    }
  }
  if (check.worst_incircle > 1e-12L) fail("a point lies inside a triangle's circumcircle");
  check.area_error = std::abs(area - hull_area) / hull_area;
  if (check.area_error > 1e-9L) fail("triangle areas do not add up to the hull's area");
  if (vertices.size() != unique.size()) fail("a point is not a vertex");
  return check;
}

// Triangulates, checks, and returns the triangles; `what` names the set in messages.
std::vector<Triangle> check_triangulation(const std::string& what, const std::vector<Point>& points) {
  const std::vector<Triangle> triangles = delaunay_triangulation(points);
  const MeshCheck check = check_delaunay(points, triangles);
  MESSAGE(what << ": " << points.size() << " points, " << triangles.size() << " triangles, worst in-circle "
               << double(check.worst_incircle) << ", area error " << double(check.area_error));
  CHECK_MESSAGE(check.problem.empty(), what << ": " << check.problem);
  return triangles;
}

// The 68 integer points on the circle of radius 5^8 about the origin, from the Gaussian integers
// (2 + i)^k (2 - i)^(16 - k): exactly co-circular, yet the plain double in-circle formula rounds.
std::vector<Point> lattice_circle_points() {
  std::set<std::pair<long long, long long>> found;
  for (int k = 0; k <= 16; ++k) {
    long long re = 1, im = 0;
    for (int i = 0; i < 16; ++i) {
      const long long s = i < k ? 1 : -1;  // times (2 + s i)
      const long long next_re = 2 * re - s * im, next_im = 2 * im + s * re;
      re = next_re, im = next_im;
    }
    for (long long sx : {-1, 1})
      for (long long sy : {-1, 1}) found.insert({sx * re, sy * im}), found.insert({sx * im, sy * re});
  }
  std::vector<Point> points;
  for (const auto& [x, y] : found) points.push_back({double(x), double(y)});
  return points;
}

std::vector<Point> random_points(keynet::Rng& rng, int n, double width, double height) {
  std::vector<Point> points;
  for (int i = 0; i < n; ++i) points.push_back({rng.uniform(0, width), rng.uniform(0, height)});
  return points;
}

// The corners and edge midpoints of a width x height image's outer edges.
std::vector<Point> image_frame(int width, int height) {
  const double l = -0.5, t = -0.5, r = width - 0.5, b = height - 0.5, mx = (l + r) / 2, my = (t + b) / 2;
  return {{l, t}, {mx, t}, {r, t}, {r, my}, {r, b}, {mx, b}, {l, b}, {l, my}};
}

// A smooth image: bilinear interpolation of it is accurate, so warps can be compared closely.
Image smooth_image(int width, int height, int channels, double phase) {
  Image image(width, height, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.at(x, y, c) = static_cast<float>(128 + 60 * std::sin(x / 7.0 + phase) * std::cos(y / 9.0 - c) + 20 * c);
  return image;
}

std::pair<float, int> max_difference(const Image& a, const Image& b, float skip_value_of_a) {
  float worst = 0;
  int compared = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    if (a.pixels[i] == skip_value_of_a) continue;
    worst = std::max(worst, std::abs(a.pixels[i] - b.pixels[i]));
    ++compared;
  }
  return {worst, compared};
}

}  // namespace

TEST_CASE("orientation_sign and incircle_sign are exact where plain doubles are not") {
  // Points near (0.5, 0.5) moved by whole units in the last place, against (12, 12) and (24, 24):
  // every coordinate is a multiple of 2^-53, so the cross product is exact in 128-bit integers.
  const double ulp = std::ldexp(1.0, -53);
  const Point q{12, 12}, r{24, 24};
  int disagreements_with_naive = 0, zeros = 0;
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 32; ++j) {
      const Point p{0.5 + i * ulp, 0.5 + j * ulp};
      auto scaled = [](double v) { return static_cast<__int128>(std::ldexp(v, 53)); };
      const __int128 exact = (scaled(q.x) - scaled(p.x)) * (scaled(r.y) - scaled(p.y)) -
                             (scaled(q.y) - scaled(p.y)) * (scaled(r.x) - scaled(p.x));
      const int expected = exact > 0 ? 1 : (exact < 0 ? -1 : 0);
      REQUIRE(orientation_sign(p, q, r) == expected);
      REQUIRE(orientation_sign(q, p, r) == -expected);
      const double naive = (q.x - p.x) * (r.y - p.y) - (q.y - p.y) * (r.x - p.x);
      disagreements_with_naive += (naive > 0 ? 1 : (naive < 0 ? -1 : 0)) != expected;
      zeros += expected == 0;
    }
  MESSAGE("plain doubles get " << disagreements_with_naive << " of 1024 orientations wrong; " << zeros << " are exactly collinear");
  CHECK(zeros == 32);

  // the unit square's corners are co-circular; a last-place move of the fourth decides the sign
  const Point a{0, 0}, b{1, 0}, c{0, 1};
  REQUIRE(orientation_sign(a, b, c) == 1);
  CHECK(incircle_sign(a, b, c, {1, 1}) == 0);
  CHECK(incircle_sign(a, b, c, {1, std::nextafter(1.0, 2.0)}) == -1);
  CHECK(incircle_sign(a, b, c, {1, std::nextafter(1.0, 0.0)}) == 1);
  CHECK(incircle_sign(a, c, b, {1, std::nextafter(1.0, 0.0)}) == -1);
  CHECK(incircle_sign(a, b, c, {0.5, 0.5}) == 1);

  const std::vector<Point> lattice = lattice_circle_points();
  REQUIRE(lattice.size() == 68);
  int naive_nonzero = 0, quadruples = 0;
  for (size_t i = 0; i < lattice.size(); i += 3)
    for (size_t j = i + 1; j < lattice.size(); j += 4)
      for (size_t k = j + 1; k < lattice.size(); k += 5)
        for (size_t l = 0; l < lattice.size(); l += 7) {
          if (l == i || l == j || l == k) continue;
          const Point &p = lattice[i], &q = lattice[j], &r = lattice[k], &d = lattice[l];
          const int orientation = orientation_sign(p, q, r);
          REQUIRE(orientation != 0);
          REQUIRE(orientation * incircle_sign(p, q, r, d) == 0);
          Point nudged_in = d;  // one unit towards the centre along the larger coordinate
          double& larger = std::abs(d.x) >= std::abs(d.y) ? nudged_in.x : nudged_in.y;
          larger -= larger > 0 ? 1 : -1;
          REQUIRE(orientation * incircle_sign(p, q, r, nudged_in) == 1);
          ++quadruples;
          const double adx = p.x - d.x, ady = p.y - d.y, bdx = q.x - d.x, bdy = q.y - d.y, cdx = r.x - d.x,
                       cdy = r.y - d.y;
          naive_nonzero += (adx * adx + ady * ady) * (bdx * cdy - cdx * bdy) +
                               (bdx * bdx + bdy * bdy) * (cdx * ady - adx * cdy) +
                               (cdx * cdx + cdy * cdy) * (adx * bdy - bdx * ady) != 0;
        }
  MESSAGE("co-circular lattice points: plain doubles call " << naive_nonzero << " of " << quadruples
                                                             << " in-circle tests non-zero");
  CHECK(naive_nonzero > 0);
}

TEST_CASE("the Delaunay checker rejects triangulations that are not Delaunay") {
  // A kite: the short diagonal C-D is Delaunay, the long one A-B is not (D is inside circle ABC).
  const std::vector<Point> kite = {{0, 0}, {4, 0}, {2, 1}, {2, -1}};
  CHECK(check_delaunay(kite, {{0, 2, 3}, {1, 3, 2}}).problem.empty());
  CHECK(contains(check_delaunay(kite, {{0, 2, 1}, {0, 1, 3}}).problem, "circumcircle"));
  CHECK(contains(check_delaunay(kite, {{0, 2, 3}}).problem, "triangles"));                 // one missing
  CHECK(contains(check_delaunay(kite, {{0, 3, 2}, {1, 3, 2}}).problem, "clockwise"));      // wrong order
  CHECK(contains(check_delaunay({{0, 0}, {4, 0}, {2, 1}, {2, -1}, {0, 0}}, {{4, 2, 3}, {1, 3, 2}}).problem,
                 "duplicate"));
}

TEST_CASE("Delaunay triangulation of random points") {
  const int sizes[] = {10, 23, 50, 97, 150, 200};
  for (int seed = 1; seed <= 6; ++seed) {
    keynet::Rng rng(seed);
    const int n = sizes[seed - 1];
    check_triangulation("random seed " + std::to_string(seed), random_points(rng, n, 640, 480));
  }
  keynet::Rng rng(99);
  std::vector<Point> clustered = random_points(rng, 100, 1e-6, 1e-6);  // tiny extent far from the origin
  for (Point& p : clustered) p.x += 1000, p.y += 2000;
  check_triangulation("random, tiny cluster at (1000, 2000)", clustered);
}

TEST_CASE("Delaunay triangulation of co-circular points") {
  const std::vector<Point> frame = image_frame(160, 120);
  check_triangulation("image frame (corners and edge midpoints)", frame);

  std::vector<Point> frame_and_face = frame;
  keynet::Rng rng(5);
  for (const Point& p : random_points(rng, 40, 100, 80)) frame_and_face.push_back({p.x + 30, p.y + 20});
  check_triangulation("image frame + 40 random points", frame_and_face);

  std::vector<Point> grid;
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 12; ++x) grid.push_back({10.0 * x, 10.0 * y});
  check_triangulation("12x9 grid", grid);

  std::vector<Point> circle;
  for (int i = 0; i < 48; ++i) circle.push_back({50 + 40 * std::cos(i * M_PI / 24), 50 + 40 * std::sin(i * M_PI / 24)});
  check_triangulation("48 points on a circle", circle);
  circle.push_back({50, 50});
  check_triangulation("48 points on a circle + centre", circle);

  // exactly co-circular: the 12 integer points at distance 5 from the origin
  std::vector<Point> integer_circle = {{5, 0}, {4, 3}, {3, 4}, {0, 5}, {-3, 4}, {-4, 3}, {-5, 0}, {-4, -3},
                                       {-3, -4}, {0, -5}, {3, -4}, {4, -3}};
  check_triangulation("12 integer points on a circle of radius 5", integer_circle);
  check_triangulation("68 integer points on a circle of radius 5^8", lattice_circle_points());
}

TEST_CASE("Delaunay triangulation of collinear points") {
  std::vector<Point> line;
  for (int i = 0; i < 20; ++i) line.push_back({3.0 + 2 * i, 1.0 + 3 * i});
  std::vector<Point> shuffled = line;
  std::reverse(shuffled.begin(), shuffled.end());
  std::swap(shuffled[3], shuffled[11]);
  CHECK(delaunay_triangulation(line).empty());
  CHECK(delaunay_triangulation(shuffled).empty());
  CHECK(delaunay_triangulation({}).empty());
  CHECK(delaunay_triangulation({{1, 2}, {3, 4}}).empty());
  CHECK(delaunay_triangulation({{1, 2}, {1, 2}, {1, 2}}).empty());
  std::vector<Point> vertical;
  for (int i = 0; i < 10; ++i) vertical.push_back({7, double(i)});
  CHECK(delaunay_triangulation(vertical).empty());

  std::vector<Point> line_and_one = shuffled;
  line_and_one.push_back({30, 5});
  const std::vector<Triangle> fan = check_triangulation("20 collinear points + 1 off the line", line_and_one);
  CHECK(fan.size() == 19);
  vertical.insert(vertical.begin() + 4, Point{-2, 4.5});
  vertical.push_back({9, 4});
  check_triangulation("vertical line + 2 points", vertical);

  CHECK(contains(error_of([] { delaunay_triangulation({{0, 0}, {1, NAN}, {2, 0}}); }), "finite"));
}

TEST_CASE("Delaunay triangulation with duplicate points") {
  keynet::Rng rng(11);
  std::vector<Point> points = random_points(rng, 60, 200, 150);
  for (int i = 0; i < 20; ++i) points.push_back(points[rng.below(60)]);
  points.insert(points.begin(), points[30]);  // the copy comes first: it is the one triangulated
  const std::vector<Triangle> triangles = check_triangulation("60 random points + 21 copies", points);
  for (const Triangle& t : triangles)
    for (int v : t) CHECK(v != 31);  // the later copy of points[0]

  std::vector<Point> grid_twice;
  for (int copy = 0; copy < 2; ++copy)
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 6; ++x) grid_twice.push_back({double(x), double(y)});
  const std::vector<Triangle> grid_triangles = check_triangulation("6x5 grid, every point twice", grid_twice);
  for (const Triangle& t : grid_triangles)
    for (int v : t) CHECK(v < 30);
}

TEST_CASE("each triangle's affine maps its three corners") {
  keynet::Rng rng(3);
  const std::vector<Point> src = random_points(rng, 80, 300, 200);
  std::vector<Point> dst;
  for (const Point& p : src) dst.push_back({p.x * 1.3 + rng.uniform(-8, 8) + 20, p.y * 0.8 + rng.uniform(-8, 8) - 5});
  const std::vector<Triangle> triangles = delaunay_triangulation(src);
  const std::vector<Affine> affines = triangle_affines(src, dst, triangles);
  REQUIRE(affines.size() == triangles.size());
  double worst = 0;
  for (size_t t = 0; t < triangles.size(); ++t)
    for (int v : triangles[t]) {
      const Point mapped = affines[t].apply(src[v]);
      worst = std::max({worst, std::abs(mapped.x - dst[v].x), std::abs(mapped.y - dst[v].y)});
    }
  MESSAGE(triangles.size() << " triangle affines, largest corner error " << worst);
  CHECK(worst < 1e-9);

  CHECK(contains(error_of([] { affine_from_triangle({{{0, 0}, {1, 1}, {2, 2}}}, {{{0, 0}, {1, 0}, {0, 1}}}); }),
                 "degenerate"));
  CHECK(contains(error_of([] { affine_from_triangle({{{5, 5}, {5, 5}, {6, 7}}}, {{{0, 0}, {1, 0}, {0, 1}}}); }),
                 "degenerate"));
  CHECK(contains(error_of([] { triangle_affines({{0, 0}, {1, 0}, {0, 1}}, {{0, 0}, {1, 0}, {0, 1}}, {{0, 1, 3}}); }),
                 "refers to point 3"));
}

TEST_CASE("a mesh's triangles own every pixel centre inside it exactly once") {
  const int width = 64, height = 48;
  auto coverage = [&](const std::vector<Point>& points, const std::vector<Triangle>& triangles) {
    std::vector<int> count(width * height, 0);
    for (const Triangle& t : triangles)
      for (const PixelSpan& span : pixels_in_triangle({points[t[0]], points[t[1]], points[t[2]]}, width, height))
        for (int x = span.x_begin; x < span.x_end; ++x) ++count[span.y * width + x];
    return count;
  };

  // vertices on pixel centres, so many centres lie exactly on edges and corners
  std::vector<Point> grid;
  for (int y = 0; y <= 40; y += 8)
    for (int x = 0; x <= 60; x += 6) grid.push_back({double(x), double(y)});
  keynet::Rng rng(21);
  for (int i = 0; i < 30; ++i) grid.push_back({double(1 + rng.below(59)), double(1 + rng.below(39))});
  const std::vector<int> grid_count = coverage(grid, delaunay_triangulation(grid));
  int inside = 0, bad = 0;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const bool interior = x > 0 && x < 60 && y > 0 && y < 40, outside = x > 60 || y > 40;
      const int c = grid_count[y * width + x];
      inside += interior;
      if ((interior && c != 1) || (outside && c != 0) || c > 1) ++bad;
    }
  MESSAGE("grid mesh: " << inside << " interior pixel centres, " << bad << " owned other than once");
  CHECK(bad == 0);
  // the boundary rule: top and right sides owned, bottom and left not
  CHECK(grid_count[0 * width + 30] == 1);
  CHECK(grid_count[20 * width + 60] == 1);
  CHECK(grid_count[40 * width + 30] == 0);
  CHECK(grid_count[20 * width + 0] == 0);

  // a mesh reaching the image's edges owns every pixel once
  std::vector<Point> framed = image_frame(width, height);
  for (const Point& p : random_points(rng, 40, width - 1, height - 1)) framed.push_back(p);
  const std::vector<int> framed_count = coverage(framed, delaunay_triangulation(framed));
  CHECK(std::all_of(framed_count.begin(), framed_count.end(), [](int c) { return c == 1; }));

  CHECK(pixels_in_triangle({{{1, 1}, {5, 5}, {9, 9}}}, width, height).empty());
  CHECK(pixels_in_triangle({{{-1e30, -1e30}, {1e30, 0}, {0, 1e30}}}, width, height).size() == size_t(height));
}

TEST_CASE("pixel spans equal the ownership rule tested at every pixel") {
  // pixels_in_triangle guesses each row's ends in floating point and settles them with exact tests;
  // here every pixel is tested exactly instead, by the rule as documented: inside each edge taken from
  // its lexicographically smaller end, or on it where the opposite corner is on the left (positive);
  // nothing for a triangle too thin to warp.
  const int width = 40, height = 30;
  keynet::Rng rng(8);
  int mismatches = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::array<Point, 3> corners;
    for (Point& p : corners) {
      p = {-5 + 50 * rng.uniform(), -5 + 40 * rng.uniform()};
      if (trial % 3 == 0) p = {std::round(2 * p.x) / 2, std::round(2 * p.y) / 2};  // on centres and edges
    }
    if (trial % 11 == 0) corners[1] = {corners[0].x + 1e-9, corners[0].y + 25};  // slivers
    std::vector<int> expected(width * height, 0), got(width * height, 0);
    if (!too_thin_to_warp(corners))
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
          bool owned = true;
          for (int i = 0; i < 3; ++i) {
            Point from = corners[i], to = corners[(i + 1) % 3];
            if (to.x < from.x || (to.x == from.x && to.y < from.y)) std::swap(from, to);
            const int inside = orientation_sign(from, to, corners[(i + 2) % 3]);
            const int side = orientation_sign(from, to, {double(x), double(y)});
            owned = owned && (side == inside || (side == 0 && inside > 0));
          }
          expected[y * width + x] = owned;
        }
    for (const PixelSpan& span : pixels_in_triangle(corners, width, height))
      for (int x = span.x_begin; x < span.x_end; ++x) ++got[span.y * width + x];
    mismatches += expected != got;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("a sliver in the mesh is skipped by the warp, not refused by its transform") {
  // (0, 0), (2, 2), (4, 4 + 1e-10): exactly, not collinear, so a test of exact orientation alone lets the
  // sliver own pixel (1, 1) on its short edge, while its transform (sine of its angle ~1e-11) is refused.
  // One test decides both: the sliver owns nothing and has no transform, and the warp goes on without it.
  const std::vector<Point> points = {{0, 0}, {2, 2}, {4, 4 + 1e-10}, {0, 4}};
  const std::vector<Triangle> triangles = {{0, 1, 2}, {0, 2, 3}};
  const std::array<Point, 3> sliver = {points[0], points[1], points[2]};
  REQUIRE(orientation_sign(sliver[0], sliver[1], sliver[2]) != 0);
  CHECK(too_thin_to_warp(sliver));
  CHECK(pixels_in_triangle(sliver, 6, 6).empty());
  CHECK(contains(error_of([&] { affine_from_triangle(sliver, sliver); }), "degenerate"));
  CHECK_FALSE(too_thin_to_warp({points[0], points[2], points[3]}));
  CHECK_FALSE(too_thin_to_warp({{{0, 0}, {1e-12, 0}, {0, 1e-12}}}));  // tiny but not thin: a transform exists

  const Image src = smooth_image(6, 6, 3, 0.5);
  Image warped;
  CHECK(error_of([&] { warped = piecewise_affine_warp(src, points, points, triangles, 6, 6, -1.0f); }) == "<no error>");
  REQUIRE(warped.width == 6);
  CHECK(warped.at(1, 1, 0) == -1.0f);  // only the sliver reached it: it keeps the fill
  CHECK(warped.at(1, 3, 0) == doctest::Approx(src.at(1, 3, 0)));  // the other triangle is warped (identity)
}

TEST_CASE("a piecewise warp by one global affine equals warp_affine") {
  const int width = 80, height = 60;
  keynet::Rng rng(8);
  const Affine global = Affine::translation(3, -2) *
                        Affine::about({40, 30}, Affine::rotation(0.2) * Affine::scaling(1.1, 0.95));
  for (int channels : {1, 3}) {
    const Image src = smooth_image(width, height, channels, 0.3);
    std::vector<Point> src_points = image_frame(width, height);
    for (const Point& p : random_points(rng, 30, width - 1, height - 1)) src_points.push_back(p);
    const std::vector<Point> dst_points = global.apply(src_points);
    const Image warped = piecewise_affine_warp(src, src_points, dst_points, delaunay_triangulation(dst_points),
                                               width, height, -1.0f);
    const Image reference = warp_affine(src, global, width, height, Border{BorderMode::Replicate, 0});
    const auto [worst, compared] = max_difference(warped, reference, -1.0f);
    MESSAGE(channels << " channel(s): " << compared << " of " << warped.pixels.size()
                     << " values inside the mesh, largest difference from warp_affine " << worst);
    CHECK(compared > static_cast<int>(warped.pixels.size()) / 2);
    CHECK(worst < 0.01f);
  }
}

TEST_CASE("morph frames start at image A and end at image B") {
  const int width = 72, height = 56;
  keynet::Rng rng(13);
  const Image img_a = smooth_image(width, height, 3, 0.0), img_b = smooth_image(width, height, 3, 2.0);
  std::vector<Point> pts_a = image_frame(width, height), pts_b = pts_a;
  for (const Point& p : random_points(rng, 25, 50, 36)) {
    pts_a.push_back({p.x + 10, p.y + 10});
    pts_b.push_back({p.x + 10 + rng.uniform(-2, 2), p.y + 10 + rng.uniform(-2, 2)});
  }
  const std::vector<Triangle> triangles = delaunay_triangulation(interpolate_points(pts_a, pts_b, 0.5));
  const Image start = morph_frame(img_a, pts_a, img_b, pts_b, triangles, 0, 0);
  const Image end = morph_frame(img_a, pts_a, img_b, pts_b, triangles, 1, 1);
  const Image middle = morph_frame(img_a, pts_a, img_b, pts_b, triangles, 0.5, 0.5);
  const float start_error = max_difference(start, img_a, NAN).first, end_error = max_difference(end, img_b, NAN).first;
  MESSAGE("morph: frame 0 differs from A by " << start_error << ", frame 1 from B by " << end_error
                                               << ", the middle frame from A by " << max_difference(middle, img_a, NAN).first);
  CHECK(start_error < 1e-3f);
  CHECK(end_error < 1e-3f);
  CHECK(max_difference(middle, img_a, NAN).first > 10);

  const Image quarter = cross_dissolve(img_a, img_b, 0.25);
  CHECK(quarter.at(5, 7, 2) == doctest::Approx(0.75 * img_a.at(5, 7, 2) + 0.25 * img_b.at(5, 7, 2)));
  CHECK(contains(error_of([&] { cross_dissolve(img_a, Image(3, 3, 3), 0.5); }), "differ in size"));
}
