// Delaunay triangulation of 2-D points: the mesh over which face morphing warps one set of landmarks
// onto another, triangle by triangle.
//
// The geometric tests are exact (floating-point expansions behind a fast filter), so nearly collinear
// or co-circular input (a regular grid, the corners and edge midpoints of an image) cannot make the
// mesh inconsistent, and no returned triangle has zero area.
#pragma once
#include <array>
#include <vector>

#include "data/affine.h"

namespace keynet::data {

// Three indices into the point vector a triangulation was built from. delaunay_triangulation lists
// them counter-clockwise as the image is displayed (y pointing down); in numbers, the cross product
// (b - a) x (c - a) = (b.x - a.x)(c.y - a.y) - (b.y - a.y)(c.x - a.x) is negative. Example: (0, 0),
// (0, 1), (1, 0) goes down, then up and right.
using Triangle = std::array<int, 3>;

// Exact sign of the cross product (b - a) x (c - a): +1, -1, or 0 when the points are collinear.
int orientation_sign(const Point& a, const Point& b, const Point& c);

// For a, b, c with orientation_sign(a, b, c) = +1: +1 when d lies strictly inside their circumcircle,
// -1 when strictly outside, 0 when on it (exact). The sign flips when a, b, c are given the other way.
int incircle_sign(const Point& a, const Point& b, const Point& c, const Point& d);

// Delaunay triangulation of `points`: no point lies strictly inside any triangle's circumcircle, the
// triangles tile the convex hull, and every distinct point is a vertex (also those on a straight
// stretch of the hull). Triangles index into `points`. Points with exactly equal coordinates are
// triangulated once, under the index of their first occurrence; later copies appear in no triangle.
// Fewer than three distinct points, or all of them on one line, give no triangles. Where several
// triangulations are Delaunay (four or more co-circular points) one of them is returned,
// deterministically for a given input. Throws keynet::Error on a non-finite coordinate.
std::vector<Triangle> delaunay_triangulation(const std::vector<Point>& points);

}  // namespace keynet::data
