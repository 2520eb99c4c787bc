// Delaunay triangulation: a sweep over the points in lexicographic order that attaches each new point
// to the hull edges it sees, followed by Lawson edge flips until every edge is locally Delaunay.
// With exact predicates both steps are provably sound: a point beyond the sweep is strictly outside
// the hull (so it sees at least one edge and new triangles have positive area), and a flip happens
// only across a strictly illegal edge, whose quadrilateral is then strictly convex.
#include "data/delaunay.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/error.h"

namespace keynet::data {
namespace {

// ---------------------------------------------------------------- exact arithmetic
// A real number held exactly as a sum of doubles that do not overlap, in increasing magnitude
// (Shewchuk, "Adaptive precision floating-point arithmetic", 1997). Its sign is its last
// component's. Zero components are dropped, so zero is the empty expansion.
using Expansion = std::vector<double>;

// a + b = sum + error exactly, in round-to-nearest.
void two_sum(double a, double b, double& sum, double& error) {
  sum = a + b;
  const double b_virtual = sum - a;
  const double a_virtual = sum - b_virtual;
  error = (a - a_virtual) + (b - b_virtual);
}

void push_nonzero(Expansion& e, double value) {
  if (value != 0.0) e.push_back(value);
}

Expansion difference(double a, double b) {
  double sum, error;
  two_sum(a, -b, sum, error);
  Expansion out;
  push_nonzero(out, error);
  push_nonzero(out, sum);
  return out;
}

Expansion plus(const Expansion& e, double b) {
  Expansion out;
  double carry = b;
  for (double component : e) {
    double sum, error;
    two_sum(carry, component, sum, error);
    push_nonzero(out, error);
    carry = sum;
  }
  push_nonzero(out, carry);
  return out;
}

Expansion plus(const Expansion& e, const Expansion& f) {
  Expansion out = e;
  for (double component : f) out = plus(out, component);
  return out;
}

Expansion times(const Expansion& e, double b) {
  Expansion out;
  double carry = 0.0;
  for (double component : e) {
    const double product = component * b;
    const double product_error = std::fma(component, b, -product);  // exact low part of the product
    double sum, error;
    two_sum(carry, product_error, sum, error);
    push_nonzero(out, error);
    two_sum(product, sum, carry, error);
    push_nonzero(out, error);
  }
  push_nonzero(out, carry);
  return out;
}

Expansion times(const Expansion& e, const Expansion& f) {
  Expansion out;
  for (double component : f) out = plus(out, times(e, component));
  return out;
}

Expansion minus(const Expansion& e, const Expansion& f) { return plus(e, times(f, -1.0)); }

int sign(const Expansion& e) { return e.empty() ? 0 : (e.back() > 0 ? 1 : -1); }

// Forward error bounds of the plain double formulas (Shewchuk's ccwerrboundA and iccerrboundA):
// when the computed value exceeds them, its sign is certainly right.
constexpr double kUnitRoundoff = 0x1p-53;
constexpr double kOrientationBound = (3.0 + 16.0 * kUnitRoundoff) * kUnitRoundoff;
constexpr double kIncircleBound = (10.0 + 96.0 * kUnitRoundoff) * kUnitRoundoff;

}  // namespace

int orientation_sign(const Point& a, const Point& b, const Point& c) {
  const double left = (b.x - a.x) * (c.y - a.y), right = (b.y - a.y) * (c.x - a.x);
  const double det = left - right;
  const double bound = kOrientationBound * (std::abs(left) + std::abs(right));
  if (det > bound) return 1;
  if (-det > bound) return -1;
  return sign(minus(times(difference(b.x, a.x), difference(c.y, a.y)),
                    times(difference(b.y, a.y), difference(c.x, a.x))));
}

int incircle_sign(const Point& a, const Point& b, const Point& c, const Point& d) {
  const double adx = a.x - d.x, ady = a.y - d.y, bdx = b.x - d.x, bdy = b.y - d.y, cdx = c.x - d.x,
               cdy = c.y - d.y;
  const double a_lift = adx * adx + ady * ady, b_lift = bdx * bdx + bdy * bdy, c_lift = cdx * cdx + cdy * cdy;
  const double det = a_lift * (bdx * cdy - cdx * bdy) + b_lift * (cdx * ady - adx * cdy) +
                     c_lift * (adx * bdy - bdx * ady);
  const double permanent = a_lift * (std::abs(bdx * cdy) + std::abs(cdx * bdy)) +
                           b_lift * (std::abs(cdx * ady) + std::abs(adx * cdy)) +
                           c_lift * (std::abs(adx * bdy) + std::abs(bdx * ady));
  const double bound = kIncircleBound * permanent;
  if (det > bound) return 1;
  if (-det > bound) return -1;

  const Expansion ax = difference(a.x, d.x), ay = difference(a.y, d.y), bx = difference(b.x, d.x),
                  by = difference(b.y, d.y), cx = difference(c.x, d.x), cy = difference(c.y, d.y);
  const Expansion a_lift_exact = plus(times(ax, ax), times(ay, ay));
  const Expansion b_lift_exact = plus(times(bx, bx), times(by, by));
  const Expansion c_lift_exact = plus(times(cx, cx), times(cy, cy));
  const Expansion bc = minus(times(bx, cy), times(cx, by));
  const Expansion ca = minus(times(cx, ay), times(ax, cy));
  const Expansion ab = minus(times(ax, by), times(bx, ay));
  return sign(plus(plus(times(a_lift_exact, bc), times(b_lift_exact, ca)), times(c_lift_exact, ab)));
}

namespace {

// ---------------------------------------------------------------- triangulation
// Half-edge mesh. Triangle t owns half-edges 3t, 3t+1, 3t+2; half-edge h runs from vertex[h] to the
// vertex of the next half-edge of its triangle, and twin[h] is the opposite half-edge in the
// neighbouring triangle (-1 on the hull). Internally every triangle has orientation_sign +1.
class Triangulation {
 public:
  explicit Triangulation(const std::vector<Point>& sites)
      : sites_(sites), hull_next_(sites.size()), hull_prev_(sites.size()), hull_edge_(sites.size()) {}

  // Fans sites[0..k) (collinear, sorted along their line) to sites[k] (off the line).
  void start(int k) {
    const bool positive = orientation_sign(sites_[0], sites_[1], sites_[k]) > 0;
    for (int i = 0; i + 1 < k; ++i) {
      const int t = positive ? add_triangle(i, i + 1, k) : add_triangle(i + 1, i, k);
      if (i == 0) continue;
      if (positive) attach(t + 2, t - 2);  // the edge k-i shared with triangle i-1
      else attach(t + 1, t - 1);
    }
    for (int h = 0; h < static_cast<int>(vertex_.size()); ++h)
      if (twin_[h] < 0) set_hull_edge(h);
    for (int h = 0; h < static_cast<int>(vertex_.size()); ++h) pending_.push_back(h);
    legalize();
  }

  // Adds sites[p], lexicographically after every site so far; sites[q] is the previous one, a hull
  // vertex whose hull edges p sees at least one of.
  void insert(int p, int q) {
    int last = q, first = q;
    // Each walk passes every hull vertex at most once; more steps mean the orientation predicate
    // contradicts itself, which must fail loudly rather than spin.
    const size_t hull_bound = sites_.size();
    size_t steps = 0;
    while (orientation_sign(sites_[last], sites_[hull_next_[last]], sites_[p]) < 0) {
      last = hull_next_[last];
      KEYNET_CHECK(++steps <= hull_bound, "delaunay: the hull walk did not end (inconsistent orientation tests)");
    }
    while (orientation_sign(sites_[hull_prev_[first]], sites_[first], sites_[p]) < 0) {
      first = hull_prev_[first];
      KEYNET_CHECK(++steps <= 2 * hull_bound, "delaunay: the hull walk did not end (inconsistent orientation tests)");
    }
    int previous_spoke = -1;  // half-edge p -> u of the triangle added before
    for (int u = first; u != last;) {
      const int w = hull_next_[u];
      const int hull_half_edge = hull_edge_[u];
      const int t = add_triangle(w, u, p);  // half-edges w->u, u->p, p->w
      attach(t, hull_half_edge);
      if (previous_spoke >= 0) attach(t + 1, previous_spoke);
      else set_hull_edge(t + 1);
      pending_.push_back(t);
      pending_.push_back(t + 1);
      previous_spoke = t + 2;
      u = w;
    }
    set_hull_edge(previous_spoke);
    legalize();
  }

  std::vector<Triangle> triangles(const std::vector<int>& site_to_point) const {
    std::vector<Triangle> out;
    out.reserve(vertex_.size() / 3);
    for (size_t h = 0; h < vertex_.size(); h += 3)  // reversed: screen counter-clockwise
      out.push_back({site_to_point[vertex_[h]], site_to_point[vertex_[h + 2]], site_to_point[vertex_[h + 1]]});
    return out;
  }

 private:
  static int next(int h) { return h % 3 == 2 ? h - 2 : h + 1; }
  static int prev(int h) { return h % 3 == 0 ? h + 2 : h - 1; }

  int add_triangle(int a, int b, int c) {
    const int t = static_cast<int>(vertex_.size());
    vertex_.insert(vertex_.end(), {a, b, c});
    twin_.insert(twin_.end(), {-1, -1, -1});
    return t;
  }

  // Makes `outer` (a half-edge, or -1 for none) the twin of h.
  void attach(int h, int outer) {
    twin_[h] = outer;
    if (outer >= 0) twin_[outer] = h;
    else set_hull_edge(h);
  }

  void set_hull_edge(int h) {
    const int from = vertex_[h], to = vertex_[next(h)];
    hull_edge_[from] = h;
    hull_next_[from] = to;
    hull_prev_[to] = from;
  }

  // Lawson flips: every half-edge that may have become non-Delaunay is in pending_.
  void legalize() {
    while (!pending_.empty()) {
      const int e = pending_.back();
      pending_.pop_back();
      const int f = twin_[e];
      if (f < 0) continue;
      const Point& a = sites_[vertex_[e]];
      const Point& b = sites_[vertex_[next(e)]];
      const Point& c = sites_[vertex_[prev(e)]];
      const Point& d = sites_[vertex_[prev(f)]];
      if (incircle_sign(a, b, c, d) > 0) flip(e, f);
    }
  }

  // Triangles (a, b, c) on half-edge e = a->b and (b, a, d) on f = b->a become (d, c, a) and
  // (c, d, b); e and f stay twins, now on the diagonal d-c.
  void flip(int e, int f) {
    const int e1 = next(e), e2 = prev(e), f1 = next(f), f2 = prev(f);
    const int a = vertex_[e], b = vertex_[e1], c = vertex_[e2], d = vertex_[f2];
    const int bc = twin_[e1], ca = twin_[e2], ad = twin_[f1], db = twin_[f2];
    vertex_[e] = d, vertex_[e1] = c, vertex_[e2] = a;
    vertex_[f] = c, vertex_[f1] = d, vertex_[f2] = b;
    attach(e1, ca);
    attach(e2, ad);
    attach(f1, db);
    attach(f2, bc);
    pending_.insert(pending_.end(), {e1, e2, f1, f2});
  }

  const std::vector<Point>& sites_;
  std::vector<int> vertex_, twin_;
  std::vector<int> hull_next_, hull_prev_, hull_edge_;  // per site on the hull: the hull runs counter-clockwise
  std::vector<int> pending_;
};

}  // namespace

std::vector<Triangle> delaunay_triangulation(const std::vector<Point>& points) {
  for (size_t i = 0; i < points.size(); ++i)
    KEYNET_CHECK(std::isfinite(points[i].x) && std::isfinite(points[i].y), "delaunay_triangulation: point ", i,
                 " is (", points[i].x, ", ", points[i].y, "); coordinates must be finite");

  std::vector<int> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](int i, int j) {
    return points[i].x < points[j].x || (points[i].x == points[j].x && points[i].y < points[j].y);
  };
  std::stable_sort(order.begin(), order.end(), before);  // stable: the first of equal points comes first

  std::vector<Point> sites;
  std::vector<int> site_to_point;
  for (int i : order) {
    if (!sites.empty() && sites.back().x == points[i].x && sites.back().y == points[i].y) continue;
    sites.push_back(points[i]);
    site_to_point.push_back(i);
  }

  const int n = static_cast<int>(sites.size());
  int k = 2;  // the first site off the line through sites 0 and 1
  while (k < n && orientation_sign(sites[0], sites[1], sites[k]) == 0) ++k;
  if (k >= n) return {};

  Triangulation mesh(sites);
  mesh.start(k);
  for (int p = k + 1; p < n; ++p) mesh.insert(p, p - 1);
  return mesh.triangles(site_to_point);
}

}  // namespace keynet::data
