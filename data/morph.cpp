// Face morphing: intermediate shapes, cross-dissolves and morph frames.
#include "data/morph.h"

#include <future>

#include "data/piecewise_warp.h"
#include "tensor/error.h"

namespace keynet::data {

std::vector<Point> interpolate_points(const std::vector<Point>& a, const std::vector<Point>& b, double t) {
  KEYNET_CHECK(a.size() == b.size(), "interpolate_points: ", a.size(), " points against ", b.size());
  std::vector<Point> out(a.size());
  for (size_t i = 0; i < a.size(); ++i)
    out[i] = {(1 - t) * a[i].x + t * b[i].x, (1 - t) * a[i].y + t * b[i].y};
  return out;
}

Image cross_dissolve(const Image& a, const Image& b, double t) {
  KEYNET_CHECK(a.width == b.width && a.height == b.height && a.channels == b.channels,
               "cross_dissolve: images differ in size: ", a.width, "x", a.height, "x", a.channels, " against ",
               b.width, "x", b.height, "x", b.channels);
  Image out(a.width, a.height, a.channels);
  const float weight_b = static_cast<float>(t), weight_a = static_cast<float>(1 - t);
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = weight_a * a.pixels[i] + weight_b * b.pixels[i];
  return out;
}

Image morph_frame(const Image& img_a, const std::vector<Point>& pts_a, const Image& img_b,
                  const std::vector<Point>& pts_b, const std::vector<Triangle>& triangles, double warp_frac,
                  double dissolve_frac) {
  KEYNET_CHECK(img_a.width == img_b.width && img_a.height == img_b.height && img_a.channels == img_b.channels,
               "morph_frame: images differ in size: ", img_a.width, "x", img_a.height, "x", img_a.channels,
               " against ", img_b.width, "x", img_b.height, "x", img_b.channels);
  const std::vector<Point> shape = interpolate_points(pts_a, pts_b, warp_frac);
  // The two warps are independent: B's runs on a second thread (a frame is ~2x faster on two cores).
  // std::async's future rethrows B's errors in get() and waits for B in its destructor if A throws.
  std::future<Image> warped_b = std::async(std::launch::async, [&] {
    return piecewise_affine_warp(img_b, pts_b, shape, triangles, img_b.width, img_b.height);
  });
  const Image a = piecewise_affine_warp(img_a, pts_a, shape, triangles, img_a.width, img_a.height);
  const Image b = warped_b.get();
  return cross_dissolve(a, b, dissolve_frac);
}

}  // namespace keynet::data
