#include "data/affine.h"

#include <cmath>
#include <sstream>

#include "tensor/error.h"

namespace keynet::data {

Affine Affine::translation(double tx, double ty) { return {1, 0, tx, 0, 1, ty}; }

Affine Affine::scaling(double sx, double sy) { return {sx, 0, 0, 0, sy, 0}; }

Affine Affine::rotation(double radians) {
  const double cs = std::cos(radians), sn = std::sin(radians);
  return {cs, -sn, 0, sn, cs, 0};
}

Affine Affine::about(const Point& center, const Affine& m) {
  return translation(center.x, center.y) * m * translation(-center.x, -center.y);
}

Affine Affine::mirror_x(int width) { return {-1, 0, static_cast<double>(width - 1), 0, 1, 0}; }

Affine Affine::resize(int src_w, int src_h, int dst_w, int dst_h) {
  KEYNET_CHECK(src_w > 0 && src_h > 0 && dst_w > 0 && dst_h > 0, "resize: sizes must be positive, got ", src_w,
               "x", src_h, " -> ", dst_w, "x", dst_h);
  const double sx = static_cast<double>(dst_w) / src_w, sy = static_cast<double>(dst_h) / src_h;
  return {sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5};
}

std::vector<Point> Affine::apply(const std::vector<Point>& points) const {
  std::vector<Point> out;
  out.reserve(points.size());
  for (const Point& p : points) out.push_back(apply(p));
  return out;
}

Affine Affine::inverse() const {
  const double det = determinant();
  KEYNET_CHECK(std::abs(det) > 1e-12, "affine transform ", describe(), " is singular and has no inverse");
  const double ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return {ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)};
}

std::string Affine::describe() const {
  std::ostringstream out;
  out << "[[" << a << ", " << b << ", " << c << "], [" << d << ", " << e << ", " << f << "]]";
  return out.str();
}

Affine operator*(const Affine& l, const Affine& r) {
  return {l.a * r.a + l.b * r.d, l.a * r.b + l.b * r.e, l.a * r.c + l.b * r.f + l.c,
          l.d * r.a + l.e * r.d, l.d * r.b + l.e * r.e, l.d * r.c + l.e * r.f + l.f};
}

}  // namespace keynet::data
