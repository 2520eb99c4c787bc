// Face morphing on colour photos, driven by keypoints: faces aligned onto one canvas by their eyes
// (data/face_align.h), then warped triangle by triangle (data/piecewise_warp.h, data/morph.h) into
// intermediate, mean or exaggerated shapes. The operations behind apps/face_morph.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "apps/common/keypoint_files.h"
#include "data/delaunay.h"
#include "data/face_align.h"
#include "data/image.h"

namespace keynet::apps {

struct AlignedFace {
  std::string name;                 // where it came from, for messages
  data::Image image;                // RGB, canvas-sized
  std::vector<data::Point> points;  // the landmarks in canvas pixels
};

// The face's image warped onto the canvas (bilinear, area-averaged when shrinking, replicated borders)
// with the similarity that puts its eye centres on the canvas's; gray photos become RGB. Throws
// keynet::Error naming the points file for landmarks a morph would garble (data::check_face_points).
AlignedFace align_face(const Face& face, const data::Canvas& canvas);

// The landmarks followed by the canvas's frame points: the vertices of a mesh that covers the canvas.
std::vector<data::Point> with_frame(const std::vector<data::Point>& points, const data::Canvas& canvas);

// The face warped from its landmarks to `shape` (same count, canvas pixels), over the Delaunay mesh of
// the destination shape and the frame, so every canvas pixel is written once.
data::Image warp_to_shape(const AlignedFace& face, const std::vector<data::Point>& shape, const data::Canvas& canvas);

// Two aligned faces and the one mesh (Delaunay of their mean shape plus the frame) every frame uses.
struct MorphPair {
  AlignedFace a, b;
  std::vector<data::Point> mesh_a, mesh_b;  // with_frame of each face's points
  std::vector<data::Triangle> triangles;
};
// Throws keynet::Error naming both sources and their counts when the counts differ.
MorphPair make_morph_pair(AlignedFace a, AlignedFace b, const data::Canvas& canvas);

// Both faces warped onto the shape (1 - warp) a + warp b, then blended (1 - dissolve) a + dissolve b
// (data::morph_frame). At 0 the frame is a's aligned image, at 1 b's.
data::Image morph_frame(const MorphPair& pair, double warp, double dissolve);
// Frame k of a sequence of frames >= 2: warp = dissolve = k / (frames - 1), so frame 0 is a's aligned
// image and frame frames - 1 is b's.
data::Image sequence_frame(const MorphPair& pair, int k, int frames);

// The sequence of `frames` as an animated GIF at `fps` (apps/common/gif.h), streamed so that memory does
// not grow with `frames`: the palette comes from up to kPaletteSampleFrames frames evenly spaced
// (first and last included; each rendered, sampled, dropped), then every frame is rendered, handed to
// `each_frame` (if given, e.g. to save it), written and dropped. With at most that many frames, the
// palette and so the GIF are those of the whole sequence. The GIF appears at `path` only when complete.
inline constexpr int kPaletteSampleFrames = 8;
void write_morph_gif(const MorphPair& pair, int frames, double fps, const std::string& path,
                     const std::function<void(int k, const data::Image& frame)>& each_frame = {});

// The mean shape of aligned faces and the mean of every face warped into it.
struct MeanFace {
  data::Image image;
  std::vector<data::Point> shape;
};
MeanFace mean_face(const std::vector<AlignedFace>& faces, const data::Canvas& canvas);

// mean + alpha (face - mean), point by point: alpha 1 is the face, 0 the mean, > 1 exaggerates what
// sets the face apart from the mean, < 0 turns it the other way.
std::vector<data::Point> caricature_shape(const std::vector<data::Point>& face, const std::vector<data::Point>& mean,
                                          double alpha);

// Images of one height side by side, left to right.
data::Image side_by_side(const std::vector<data::Image>& images);

}  // namespace keynet::apps
