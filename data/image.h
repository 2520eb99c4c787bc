// Images for the data pipeline: loading and saving (through stb), gray conversion, resizing and
// affine warping with bilinear sampling.
//
// Image stores float pixels, interleaved (row-major, channels innermost), on the 0..255 scale of
// 8-bit files. Floats keep repeated warps, brightness/contrast changes and area averaging free of
// rounding; conversion to uint8 happens only when saving. Geometry follows data/affine.h: pixel
// (i, j) is centred at (x, y) = (i, j).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/affine.h"
#include "tensor/tensor.h"

namespace keynet::data {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;          // 1 (gray) or 3 (RGB)
  std::vector<float> pixels;  // width * height * channels values, 0..255

  Image() = default;
  Image(int width, int height, int channels, float fill = 0.0f);

  bool empty() const { return pixels.empty(); }
  float& at(int x, int y, int c = 0) { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
  float at(int x, int y, int c = 0) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

// The most pixels (width x height) an image file may declare: 64 megapixels (every dataset photo and
// phone photo fits), or the environment variable KEYNET_MAX_PIXELS, a positive whole number of pixels
// (anything else is an error naming it). Files are checked on their header before a pixel is decoded:
// a 0.6 MB PNG can declare 16000x12000 pixels, which once took 5.8 GB. Apps use it for their own
// canvases too. As floats, a limit-sized RGB image takes 768 MB (plus 192 MB of decoded bytes while
// it is converted).
int64_t max_image_pixels();

// What an image file declares, read without decoding its pixels: the size as displayed (EXIF
// orientation applied: 5 to 8 swap width and height) and the orientation. A header that declares no
// pixels, or more than max_image_pixels(), is refused with keynet::Error naming the file.
struct ImageHeader {
  int width = 0;
  int height = 0;
  int orientation = 1;  // EXIF, 1..8
};
ImageHeader read_image_header(const std::string& path);

// The EXIF orientation (1..8) of a JPEG file's bytes: tag 0x0112 of IFD0 in its APP1 "Exif" segment.
// 1 (as stored) when there is none, when the EXIF is malformed or cut short, or when the value is not
// 1..8 (some writers put 0 for "unknown"): a photo every viewer opens must not be refused for its
// metadata. Reads only inside `bytes`.
int exif_orientation(std::span<const unsigned char> bytes);

// Loads a JPEG or PNG (any format stb reads) as gray or RGB, upright: a JPEG's EXIF orientation is
// applied (a phone photo taken sideways loads as it is displayed); an alpha channel is dropped.
// Missing, unreadable, truncated and oversized files (read_image_header) throw keynet::Error naming
// the file.
Image load_image(const std::string& path);
// Gray straight from the decoder: a JPEG's luma plane (no colour conversion, the fast path), or stb's
// 8-bit BT.601 luma of other formats. Within a gray level of to_gray(load_image(path)).
Image load_gray(const std::string& path);

// Values are rounded and clamped to 0..255. The format follows the function, not the extension.
// stb writes every JPEG as YCbCr, so a gray image saved as JPEG loads back with 3 equal channels.
// A failed write names the file and the reason (a missing folder, no permission, a full disk).
void save_png(const std::string& path, const Image& image);
void save_jpeg(const std::string& path, const Image& image, int quality = 92);

Image to_gray(const Image& image);  // ITU-R BT.601 luma; a gray image is returned unchanged
Image to_rgb(const Image& image);   // gray replicated into three channels

enum class BorderMode { Constant, Replicate };
struct Border {
  BorderMode mode = BorderMode::Replicate;
  float value = 0.0f;  // used by Constant, on the 0..255 scale
};

// Writes the bilinear sample of `src` at (sx, sy) into out[0..channels); outside the image the border
// decides. Inline: warps call it once per output pixel.
inline void sample_bilinear(const Image& src, double sx, double sy, const Border& border, float* out) {
  const int ch = src.channels;
  const double fx0 = std::floor(sx), fy0 = std::floor(sy);
  const int x0 = static_cast<int>(fx0), y0 = static_cast<int>(fy0);
  const float fx = static_cast<float>(sx - fx0), fy = static_cast<float>(sy - fy0);
  const float w00 = (1 - fx) * (1 - fy), w10 = fx * (1 - fy), w01 = (1 - fx) * fy, w11 = fx * fy;
  if (x0 >= 0 && y0 >= 0 && x0 + 1 < src.width && y0 + 1 < src.height) {
    const float* p = &src.pixels[(static_cast<size_t>(y0) * src.width + x0) * ch];
    const float* q = p + static_cast<size_t>(src.width) * ch;
    for (int c = 0; c < ch; ++c) out[c] = w00 * p[c] + w10 * p[ch + c] + w01 * q[c] + w11 * q[ch + c];
    return;
  }
  const bool constant = border.mode == BorderMode::Constant;
  auto fetch = [&](int x, int y, int c) -> float {
    if (x < 0 || y < 0 || x >= src.width || y >= src.height) {
      if (constant) return border.value;
      x = std::clamp(x, 0, src.width - 1);
      y = std::clamp(y, 0, src.height - 1);
    }
    return src.at(x, y, c);
  };
  for (int c = 0; c < ch; ++c)
    out[c] = w00 * fetch(x0, y0, c) + w10 * fetch(x0 + 1, y0, c) + w01 * fetch(x0, y0 + 1, c) +
             w11 * fetch(x0 + 1, y0 + 1, c);
}

// out(p) = src(src_to_dst^-1 (p)) with bilinear sampling. When the transform shrinks by 2x or more
// (by area), the source is first area-averaged by the integer factor floor(shrink) so that the
// bilinear step never skips pixels; the geometry stays exactly src_to_dst.
Image warp_affine(const Image& src, const Affine& src_to_dst, int out_width, int out_height,
                  Border border = {});

// Bilinear resize (area averaging when shrinking by more than 2x); geometry Affine::resize.
Image resize(const Image& src, int width, int height);

// Integer area averaging: out pixel i averages source pixels [i*k, (i+1)*k) (fewer at the edges).
Image box_downsample(const Image& src, int factor);

// brightness/contrast: v' = (v - 127.5) * contrast + 127.5 + brightness, clamped to 0..255.
void adjust_brightness_contrast(Image& image, float brightness, float contrast);

// Network input values: v / 255 - 0.5, in [-0.5, 0.5], written planar (C, H, W) to dst.
void write_unit_range(const Image& image, float* dst);
Tensor to_tensor(const Image& image);  // (1, C, H, W) float32 in [-0.5, 0.5]
// Inverse of to_tensor for a (C,H,W) or (1,C,H,W) CPU tensor with C = 1 or 3; values clamp to 0..255.
Image from_tensor(const Tensor& tensor);

}  // namespace keynet::data
