// Piecewise-affine warps: an image moved by a triangle mesh whose corners move from source points to
// destination points, each triangle carrying its own affine transform (face morphing's warp).
//
// Geometry follows data/affine.h: pixel (i, j) is centred at (x, y) = (i, j).
#pragma once
#include <array>
#include <vector>

#include "data/affine.h"
#include "data/delaunay.h"
#include "data/image.h"

namespace keynet::data {

// Whether a triangle is too thin to warp: twice its area is at most 1e-10 times its longest side squared
// (its height at most 1e-10 of that side), which includes collinear and coincident corners. Rounding
// makes such a triangle's transform meaningless, so this one test decides both that it owns no pixels
// (pixels_in_triangle) and that it has no transform (affine_from_triangle): a warp skips it.
bool too_thin_to_warp(const std::array<Point, 3>& corners);

// The affine transform taking src[i] to dst[i] for i = 0, 1, 2. Throws keynet::Error when the source
// triangle is degenerate (too_thin_to_warp), as then no transform is unique or trustworthy.
Affine affine_from_triangle(const std::array<Point, 3>& src, const std::array<Point, 3>& dst);

// One transform per triangle, taking its corners in src_points to the same corners in dst_points.
std::vector<Affine> triangle_affines(const std::vector<Point>& src_points, const std::vector<Point>& dst_points,
                                     const std::vector<Triangle>& triangles);

// Pixels x_begin <= x < x_end of row y.
struct PixelSpan {
  int y = 0;
  int x_begin = 0;
  int x_end = 0;
};

// The pixels of a width x height image whose centres the triangle owns, one span per row. A centre
// strictly inside is owned; one exactly on an edge or a corner goes to the triangle that a tiny shift
// down (and infinitesimally left) would move it into, so the triangles of a mesh own every pixel centre
// inside the mesh exactly once: no holes or double writes along shared edges. The tests are exact.
// The shift rule leaves centres exactly on a mesh's outer boundary unowned on its bottom and left
// sides: to cover a whole image, let the mesh reach the image's edges (-0.5 and width - 0.5), as
// the outer pixel centres (0 and width - 1) would lose the left column and bottom row. A triangle
// too thin to warp (too_thin_to_warp) owns nothing, even a centre exactly on one of its edges: where
// only such a sliver reached it, the centre is left to no triangle.
std::vector<PixelSpan> pixels_in_triangle(const std::array<Point, 3>& corners, int width, int height);

// Inverse warp: each pixel a destination triangle owns (see pixels_in_triangle) takes the bilinear
// sample of `src` at the pixel's position mapped back by that triangle's transform, with replicated
// borders; pixels no triangle owns keep `fill`. Triangles index into both point vectors (which have
// the same length); where destination triangles overlap (a folded mesh) the later one wins.
// Meant for warps near unit scale, such as morphing: there is no area averaging, so shrinking by 2x
// or more aliases (warp_affine averages first).
Image piecewise_affine_warp(const Image& src, const std::vector<Point>& src_points,
                            const std::vector<Point>& dst_points, const std::vector<Triangle>& triangles,
                            int out_width, int out_height, float fill = 0.0f);

}  // namespace keynet::data
