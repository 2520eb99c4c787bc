// Putting faces of different photos onto one canvas for morphing: a similarity transform (rotation,
// uniform scale, shift) that moves the two eye centres to fixed places, and the points on the canvas's
// edges that let a triangle mesh over the landmarks cover every pixel.
//
// Eyes are found from the landmark scheme, told apart by the point count: IMM's 58 points (eyes 13-20
// and 21-28, see data/imm.h) and iBUG's 68 (eyes 36-41 and 42-47).
#pragma once
#include <string>
#include <vector>

#include "data/affine.h"

namespace keynet::data {

// A width x height image with the place each eye centre is moved to; "left" and "right" are as the
// image is displayed.
struct Canvas {
  int width = 0;
  int height = 0;
  Point left_eye;
  Point right_eye;
};

// Eyes at 43% and 57% of the width, 48% of the height: on 640x480 that is 90 px apart, the mean of
// IMM's frontal photos, so their alignment stays near unit scale. At most kMaxCanvasPixels pixels
// (4096x4096): each canvas-sized float RGB image takes 12 bytes a pixel, 200 MB at that size.
inline constexpr long long kMaxCanvasPixels = 4096LL * 4096;
Canvas make_canvas(int width, int height);

// The eye centres (means of the eye contours) on the image's left and right, for 58 (IMM) or 68 (iBUG)
// points; other counts throw keynet::Error naming `where` (the file the points came from).
struct EyeCentres {
  Point left;
  Point right;
};
EyeCentres eye_centres(const std::vector<Point>& points, const std::string& where);

// The similarity transform taking from_1 to to_1 and from_2 to to_2 (from_1 != from_2).
Affine similarity_from_two_points(const Point& from_1, const Point& from_2, const Point& to_1, const Point& to_2);

// Image pixels -> canvas pixels, the eye centres of `points` landing on the canvas's eye places.
Affine eye_alignment(const std::vector<Point>& points, const Canvas& canvas, const std::string& where);

// Refuses landmarks that a morph would garble, naming `where` (the file they came from): a coordinate
// that is not finite; a point more than one image side beyond the width x height image's border (the
// point and the image size named); two points at one place (within 1e-3 px; both indices named),
// except the pairs a scheme lets meet (iBUG's inner lips and eyelids, which close: 61/67, 62/66,
// 63/65, 37/41, 38/40, 43/47, 44/46); all points on (nearly) one line (the spread across their main
// axis under 1% of the spread along it).
void check_face_points(const std::vector<Point>& points, int width, int height, const std::string& where);

// The canvas's four corners and four edge midpoints, on its outer edges (-0.5 and width - 0.5) so that a
// mesh including them owns every pixel (see data/piecewise_warp.h): order top-left, top, top-right,
// right, bottom-right, bottom, bottom-left, left.
std::vector<Point> canvas_frame_points(int width, int height);

// The point-by-point mean of shapes with equal point counts (at least one shape).
std::vector<Point> mean_shape(const std::vector<std::vector<Point>>& shapes);

}  // namespace keynet::data
