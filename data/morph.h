// Face morphing: intermediate shapes, cross-dissolves, and one frame of a morph between two faces
// whose corresponding landmarks share one triangle mesh.
#pragma once
#include <vector>

#include "data/affine.h"
#include "data/delaunay.h"
#include "data/image.h"

namespace keynet::data {

// (1 - t) * a[i] + t * b[i] for every i; a and b have the same length.
std::vector<Point> interpolate_points(const std::vector<Point>& a, const std::vector<Point>& b, double t);

// (1 - t) * a + t * b pixel by pixel; a and b have the same size and channels.
Image cross_dissolve(const Image& a, const Image& b, double t);

// One frame of the morph from (img_a, pts_a) to (img_b, pts_b): both images are warped (see
// piecewise_affine_warp) onto the shape interpolate_points(pts_a, pts_b, warp_frac), then blended
// with cross_dissolve(.., .., dissolve_frac). The images have the same size and channels, and so
// does the frame. `triangles` index into both point vectors, e.g. delaunay_triangulation of one of
// the shapes or of their mean; pixels outside the mesh are 0, so to cover the whole frame include
// points on the image's edges, such as its corners (-0.5, -0.5) ... (width - 0.5, height - 0.5).
Image morph_frame(const Image& img_a, const std::vector<Point>& pts_a, const Image& img_b,
                  const std::vector<Point>& pts_b, const std::vector<Triangle>& triangles, double warp_frac,
                  double dissolve_frac);

}  // namespace keynet::data
