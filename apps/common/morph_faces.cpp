// Aligning, warping, morphing, averaging and caricaturing faces on one canvas.
#include "apps/common/morph_faces.h"

#include <algorithm>

#include "apps/common/gif.h"
#include "data/morph.h"
#include "data/piecewise_warp.h"
#include "tensor/error.h"

namespace keynet::apps {

AlignedFace align_face(const Face& face, const data::Canvas& canvas) {
  const data::Affine to_canvas = data::eye_alignment(face.points, canvas, face.points_path);  // checks the count
  // Every command aligns its faces here, so every one refuses landmarks a warp would garble.
  data::check_face_points(face.points, face.image.width, face.image.height, face.points_path);
  AlignedFace out;
  out.name = face.points_path;
  out.image = data::warp_affine(data::to_rgb(face.image), to_canvas, canvas.width, canvas.height);
  out.points = to_canvas.apply(face.points);
  return out;
}

std::vector<data::Point> with_frame(const std::vector<data::Point>& points, const data::Canvas& canvas) {
  std::vector<data::Point> mesh = points;
  for (const data::Point& p : data::canvas_frame_points(canvas.width, canvas.height)) mesh.push_back(p);
  return mesh;
}

data::Image warp_to_shape(const AlignedFace& face, const std::vector<data::Point>& shape, const data::Canvas& canvas) {
  KEYNET_CHECK(shape.size() == face.points.size(), face.name, ": ", face.points.size(),
               " points cannot be warped to a shape of ", shape.size());
  const std::vector<data::Point> destination = with_frame(shape, canvas);
  return data::piecewise_affine_warp(face.image, with_frame(face.points, canvas), destination,
                                     data::delaunay_triangulation(destination), canvas.width, canvas.height);
}

MorphPair make_morph_pair(AlignedFace a, AlignedFace b, const data::Canvas& canvas) {
  KEYNET_CHECK(a.points.size() == b.points.size(), a.name, " has ", a.points.size(), " points but ", b.name, " has ",
               b.points.size(), ": a morph needs the same landmarks on both faces; give both faces points of one "
               "scheme (IMM's 58: a .asf or --points imm; iBUG's 68: a .pts or --points auto)");
  KEYNET_CHECK(a.image.width == b.image.width && a.image.height == b.image.height, "make_morph_pair: ", a.name,
               " and ", b.name, " are aligned onto canvases of different sizes");
  MorphPair pair;
  pair.mesh_a = with_frame(a.points, canvas);
  pair.mesh_b = with_frame(b.points, canvas);
  pair.triangles = data::delaunay_triangulation(data::interpolate_points(pair.mesh_a, pair.mesh_b, 0.5));
  pair.a = std::move(a);
  pair.b = std::move(b);
  return pair;
}

data::Image morph_frame(const MorphPair& pair, double warp, double dissolve) {
  return data::morph_frame(pair.a.image, pair.mesh_a, pair.b.image, pair.mesh_b, pair.triangles, warp, dissolve);
}

data::Image sequence_frame(const MorphPair& pair, int k, int frames) {
  KEYNET_CHECK(frames >= 2 && k >= 0 && k < frames, "sequence_frame: frame ", k, " of a sequence of ", frames,
               " (at least 2)");
  const double t = double(k) / (frames - 1);
  return morph_frame(pair, t, t);
}

void write_morph_gif(const MorphPair& pair, int frames, double fps, const std::string& path,
                     const std::function<void(int k, const data::Image& frame)>& each_frame) {
  KEYNET_CHECK(frames >= 2, path, ": a sequence needs at least 2 frames, not ", frames);
  const int width = pair.a.image.width, height = pair.a.image.height;
  // Rendering the sampled frames twice costs less than holding them: 8 float frames of a large canvas
  // would take gigabytes.
  const int samples = std::min(frames, kPaletteSampleFrames);
  PaletteSampler sampler(samples, width, height);
  for (int i = 0; i < samples; ++i)
    sampler.add(sequence_frame(pair, (i * (frames - 1) + (samples - 1) / 2) / (samples - 1), frames));
  GifWriter gif(path, width, height, sampler.palette(), fps);
  for (int k = 0; k < frames; ++k) {
    const data::Image frame = sequence_frame(pair, k, frames);
    if (each_frame) each_frame(k, frame);
    gif.add(frame);
  }
  gif.finish();
}

MeanFace mean_face(const std::vector<AlignedFace>& faces, const data::Canvas& canvas) {
  KEYNET_CHECK(!faces.empty(), "mean_face: no faces to average");
  std::vector<std::vector<data::Point>> shapes;
  for (const AlignedFace& face : faces) shapes.push_back(face.points);
  MeanFace mean;
  mean.shape = data::mean_shape(shapes);
  mean.image = data::Image(canvas.width, canvas.height, 3);
  for (const AlignedFace& face : faces) {
    const data::Image warped = warp_to_shape(face, mean.shape, canvas);
    for (size_t i = 0; i < warped.pixels.size(); ++i) mean.image.pixels[i] += warped.pixels[i];
  }
  for (float& v : mean.image.pixels) v /= static_cast<float>(faces.size());
  return mean;
}

std::vector<data::Point> caricature_shape(const std::vector<data::Point>& face, const std::vector<data::Point>& mean,
                                          double alpha) {
  // mean + alpha (face - mean) is the interpolation from mean to face at alpha, extrapolating outside [0, 1].
  return data::interpolate_points(mean, face, alpha);
}

data::Image side_by_side(const std::vector<data::Image>& images) {
  KEYNET_CHECK(!images.empty(), "side_by_side: no images");
  int width = 0;
  for (const data::Image& image : images) {
    KEYNET_CHECK(image.height == images.front().height && image.channels == images.front().channels,
                 "side_by_side: images differ in height or channels");
    width += image.width;
  }
  data::Image out(width, images.front().height, images.front().channels);
  int left = 0;
  for (const data::Image& image : images) {
    const size_t row = static_cast<size_t>(image.width) * image.channels;
    for (int y = 0; y < image.height; ++y) std::copy_n(image.pixels.data() + y * row, row, &out.at(left, y));
    left += image.width;
  }
  return out;
}

}  // namespace keynet::apps
