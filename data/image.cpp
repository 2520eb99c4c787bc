#include "data/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>

#include "tensor/error.h"

namespace keynet::data {

Image::Image(int w, int h, int c, float fill)
    : width(w), height(h), channels(c), pixels(static_cast<size_t>(w) * h * c, fill) {
  KEYNET_CHECK(w > 0 && h > 0 && (c == 1 || c == 3), "image: bad size ", w, "x", h, "x", c,
               " (need positive width/height and 1 or 3 channels)");
}

namespace {

std::vector<unsigned char> read_bytes(const std::string& path) {
  KEYNET_CHECK(std::filesystem::is_regular_file(path), "image file '", path, "' does not exist or is not a file");
  std::ifstream in(path, std::ios::binary);
  KEYNET_CHECK(in.good(), "cannot open image file '", path, "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t big_endian(const unsigned char* p, int bytes) {
  uint32_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  return value;
}

// The first byte after a JPEG's start-of-image marker, or 0 when the bytes are not a JPEG. stb takes any
// run of 0xFF fill bytes before the marker (0xD8) as a JPEG, and so do we.
size_t jpeg_body(std::span<const unsigned char> bytes) {
  size_t start = 0;
  while (start < bytes.size() && bytes[start] == 0xFF) ++start;
  return start > 0 && start < bytes.size() && bytes[start] == 0xD8 ? start + 1 : 0;
}

bool is_frame_header(unsigned char marker) {  // SOF0..SOF15, less DHT (C4), JPG (C8) and DAC (CC)
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

struct Size {
  uint32_t width = 0, height = 0;
};

// A DHT segment's tables, bytes [begin, end): each is a class/id byte, 16 code counts and the symbols.
// More than 256 codes in one table would make stb_image 2.27 (Debian's) write past its arrays; stb
// 2.28 refuses them, and so do we.
void check_huffman_tables(const std::vector<unsigned char>& bytes, size_t begin, size_t end, const std::string& path) {
  for (size_t p = begin; p < end;) {
    KEYNET_CHECK(p + 17 <= end, "image file '", path, "': corrupt JPEG (a Huffman table is cut short at byte ", p, ")");
    size_t codes = 0;
    for (size_t i = 1; i <= 16; ++i) codes += bytes[p + i];
    KEYNET_CHECK(codes <= 256, "image file '", path, "': corrupt JPEG (a Huffman table declares ", codes,
                 " codes, at most 256 are possible)");
    p += 17 + codes;
    KEYNET_CHECK(p <= end, "image file '", path, "': corrupt JPEG (a Huffman table runs past its segment)");
  }
}

// Walks a JPEG's segments before stb decodes it and returns the size its (first) frame header declares,
// the one stb decodes. The Huffman tables must be possible (above), and the file must end with an
// end-of-image marker, because stb decodes a truncated JPEG without complaint (missing data reads as
// zeros). Inside entropy-coded data 0xFF is followed by 0x00 (a stuffed byte) or a restart marker; any
// other marker ends the scan. `pos`: the first byte after the start-of-image marker.
Size check_jpeg(const std::vector<unsigned char>& bytes, size_t pos, const std::string& path) {
  const size_t size = bytes.size();
  auto truncated = [&] { KEYNET_FAIL("image file '", path, "' is truncated (JPEG without end-of-image marker)"); };
  bool framed = false;
  Size frame;
  while (true) {
    if (pos + 2 > size) truncated();
    KEYNET_CHECK(bytes[pos] == 0xFF, "image file '", path, "': corrupt JPEG (bad marker at byte ", pos, ")");
    const unsigned char marker = bytes[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD9) break;  // end of image
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {  // markers without a length
      pos += 2;
      continue;
    }
    if (pos + 4 > size) truncated();
    const size_t length = big_endian(&bytes[pos + 2], 2);
    KEYNET_CHECK(length >= 2, "image file '", path, "': corrupt JPEG (segment length ", length, " at byte ", pos, ")");
    if (pos + 2 + length > size) truncated();
    if (marker == 0xC4) check_huffman_tables(bytes, pos + 4, pos + 2 + length, path);
    if (is_frame_header(marker) && !framed) {  // precision (1 byte), height (2), width (2), ...
      KEYNET_CHECK(length >= 7, "image file '", path, "': corrupt JPEG (frame header of ", length, " bytes)");
      frame = {big_endian(&bytes[pos + 7], 2), big_endian(&bytes[pos + 5], 2)};
      framed = true;
    }
    pos += 2 + length;
    if (marker == 0xDA) {  // start of scan: skip its entropy-coded data
      while (pos + 1 < size &&
             !(bytes[pos] == 0xFF && bytes[pos + 1] != 0x00 && !(bytes[pos + 1] >= 0xD0 && bytes[pos + 1] <= 0xD7)))
        ++pos;
      if (pos + 1 >= size) truncated();
    }
  }
  KEYNET_CHECK(framed, "image file '", path, "': corrupt JPEG (no frame header: the image size is not declared)");
  return frame;
}

// "64 megapixels", "192.3 megapixels", or the count itself below a tenth of a megapixel.
std::string describe_pixels(uint64_t pixels) {
  std::ostringstream out;
  if (pixels % 1000000 == 0)
    out << pixels / 1000000 << " megapixels";
  else if (pixels >= 100000)
    out << std::fixed << std::setprecision(1) << pixels / 1e6 << " megapixels";
  else
    out << pixels << " pixels";
  return out.str();
}

// The header's size (JPEG and PNG read here, the other formats by stb_info) checked against
// max_image_pixels(), and the EXIF orientation; nothing is decoded.
ImageHeader header_of(const std::vector<unsigned char>& bytes, const std::string& path) {
  KEYNET_CHECK(bytes.size() > 8, "image file '", path, "' is empty or truncated (", bytes.size(), " bytes)");
  static constexpr unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  const size_t jpeg = jpeg_body(bytes);
  Size size;
  if (jpeg > 0) {
    size = check_jpeg(bytes, jpeg, path);
  } else if (bytes.size() >= 24 && std::equal(std::begin(png_signature), std::end(png_signature), bytes.begin()) &&
             std::equal(bytes.begin() + 12, bytes.begin() + 16, "IHDR")) {  // the first chunk, as PNG requires
    size = {big_endian(&bytes[16], 4), big_endian(&bytes[20], 4)};
  } else {  // other formats, and PNGs that stb reads although IHDR is not first (Apple's CgBI)
    int w = 0, h = 0, n = 0;
    KEYNET_CHECK(stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &n) != 0,
                 "cannot decode image file '", path, "': ", stbi_failure_reason());
    KEYNET_CHECK(w >= 0 && h >= 0, "image file '", path, "' declares a negative size (", w, "x", h, ")");
    size = {static_cast<uint32_t>(w), static_cast<uint32_t>(h)};
  }
  const int orientation = jpeg > 0 ? exif_orientation(bytes) : 1;
  if (orientation >= 5) std::swap(size.width, size.height);
  KEYNET_CHECK(size.width > 0 && size.height > 0, "image file '", path, "' declares a ", size.width, "x", size.height,
               " image: it has no pixels");
  const uint64_t pixels = uint64_t{size.width} * size.height;
  const int64_t limit = max_image_pixels();
  KEYNET_CHECK(pixels <= static_cast<uint64_t>(limit), "image file '", path, "': ", size.width, "x", size.height,
               " pixels (", describe_pixels(pixels), ") is over keynet's limit of ", describe_pixels(limit),
               "; set KEYNET_MAX_PIXELS (a number of pixels) to raise it");
  constexpr uint32_t int_max = std::numeric_limits<int>::max();
  KEYNET_CHECK(size.width <= int_max && size.height <= int_max, "image file '", path, "': ", size.width, "x",
               size.height, " is wider or taller than keynet can index (2^31 - 1 pixels)");
  return {static_cast<int>(size.width), static_cast<int>(size.height), orientation};
}

// Where output pixel (x, y) of the upright image lies in the stored w x h pixels, for each EXIF
// orientation: at index base + x * step_x + y * step_y (in pixels).
struct UprightWalk {
  ptrdiff_t base, step_x, step_y;
};

UprightWalk upright_walk(int orientation, ptrdiff_t w, ptrdiff_t h) {
  switch (orientation) {
    case 2: return {w - 1, -1, w};          // mirrored left to right
    case 3: return {h * w - 1, -1, -w};     // rotated 180 degrees
    case 4: return {(h - 1) * w, 1, -w};    // mirrored top to bottom
    case 5: return {0, w, 1};               // transposed (mirrored about the main diagonal)
    case 6: return {(h - 1) * w, -w, 1};    // to be rotated 90 degrees clockwise
    case 7: return {h * w - 1, -w, -1};     // transversed (mirrored about the other diagonal)
    case 8: return {w - 1, w, -1};          // to be rotated 90 degrees counter-clockwise
    default: return {0, 1, w};              // 1: as stored
  }
}

// Decodes with stb into `channels` channels (0: as stored, alpha dropped afterwards), upright. The header
// is checked first, so an oversized file is refused before stb allocates anything for it. The bytes stay
// 8-bit until the one pass that converts them to floats and applies the orientation.
Image decode(const std::string& path, int channels) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  const ImageHeader header = header_of(bytes, path);
  int w = 0, h = 0, n = 0;
  const std::unique_ptr<unsigned char, void (*)(void*)> data(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &n, channels), stbi_image_free);
  KEYNET_CHECK(data != nullptr, "cannot decode image file '", path, "': ", stbi_failure_reason());
  const bool swapped = header.orientation >= 5;
  KEYNET_CHECK((swapped ? h : w) == header.width && (swapped ? w : h) == header.height, "image file '", path,
               "' decodes to ", w, "x", h, " pixels, not the ", header.width, "x", header.height,
               " its header declares");
  const int stride = channels ? channels : n;
  const int keep = stride >= 3 ? 3 : 1;  // drop alpha (gray+alpha has 2 channels, RGBA 4)
  Image image(header.width, header.height, keep);
  const UprightWalk walk = upright_walk(header.orientation, w, h);
  float* out = image.pixels.data();
  for (int y = 0; y < image.height; ++y) {
    const ptrdiff_t row = walk.base + y * walk.step_y;
    for (int x = 0; x < image.width; ++x, out += keep) {
      const unsigned char* in = data.get() + (row + x * walk.step_x) * stride;
      for (int c = 0; c < keep; ++c) out[c] = in[c];
    }
  }
  return image;
}

// Writes an encoded file and says why it could not (errno's text): stb's own file writers ignore
// failed writes, so a full disk would leave a cut file without a word. A partial regular file is
// removed (never a device such as /dev/full).
void write_file(const std::string& path, const std::vector<unsigned char>& encoded, const char* kind) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  KEYNET_CHECK(file != nullptr, "cannot write ", kind, " file '", path, "': ", std::strerror(errno));
  int failure = 0;
  if (std::fwrite(encoded.data(), 1, encoded.size(), file) != encoded.size()) failure = errno;
  if (std::fclose(file) != 0 && failure == 0) failure = errno;  // a full disk often shows only here
  if (failure == 0) return;
  std::error_code ignored;
  if (std::filesystem::is_regular_file(path, ignored)) std::filesystem::remove(path, ignored);
  KEYNET_FAIL("cannot write ", kind, " file '", path, "': ", std::strerror(failure));
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  out->insert(out->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
}

std::vector<unsigned char> to_bytes(const Image& image, const std::string& path) {
  KEYNET_CHECK(!image.empty(), "cannot save an empty image to '", path, "'");
  std::vector<unsigned char> bytes(image.pixels.size());
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<unsigned char>(std::clamp(std::lround(image.pixels[i]), 0L, 255L));
  return bytes;
}

}  // namespace

int64_t max_image_pixels() {
  const char* text = std::getenv("KEYNET_MAX_PIXELS");
  if (text == nullptr) return 64'000'000;
  char* end = nullptr;
  errno = 0;
  const long long limit = std::strtoll(text, &end, 10);
  KEYNET_CHECK(end != text && *end == '\0' && errno == 0 && limit > 0, "KEYNET_MAX_PIXELS='", text,
               "' is not a positive whole number of pixels (e.g. 100000000 for 100 megapixels)");
  return limit;
}

int exif_orientation(std::span<const unsigned char> bytes) {
  // The segments before the first scan: 0xFF, a marker, a 2-byte big-endian length that counts itself.
  for (size_t pos = jpeg_body(bytes); pos != 0 && pos + 4 <= bytes.size();) {
    if (bytes[pos] != 0xFF) return 1;
    const unsigned char marker = bytes[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // metadata comes before the scan
    const size_t length = big_endian(&bytes[pos + 2], 2);
    if (length < 2 || pos + 2 + length > bytes.size()) return 1;
    const std::span<const unsigned char> segment = bytes.subspan(pos + 4, length - 2);
    pos += 2 + length;
    static constexpr unsigned char exif_id[6] = {'E', 'x', 'i', 'f', 0, 0};
    if (marker != 0xE1 || segment.size() < 6 || !std::equal(exif_id, exif_id + 6, segment.begin())) continue;
    // TIFF: "II" (little-endian) or "MM" (big-endian), 42, IFD0's offset; offsets count from the "II".
    const std::span<const unsigned char> tiff = segment.subspan(6);
    if (tiff.size() < 8) return 1;
    const bool little = tiff[0] == 'I' && tiff[1] == 'I';
    if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
    auto read = [&](size_t at, int count) {  // callers keep at + count <= tiff.size()
      uint32_t value = 0;
      for (int i = 0; i < count; ++i) value |= uint32_t{tiff[at + i]} << 8 * (little ? i : count - 1 - i);
      return value;
    };
    if (read(2, 2) != 42) return 1;
    const size_t ifd = read(4, 4);
    if (ifd > tiff.size() || tiff.size() - ifd < 2) return 1;
    const size_t entries = read(ifd, 2);
    for (size_t i = 0; i < entries; ++i) {  // each entry: tag, type, count, value (12 bytes)
      const size_t entry = ifd + 2 + 12 * i;
      if (entry + 12 > tiff.size()) return 1;
      if (read(entry, 2) != 0x0112) continue;
      const uint32_t value = read(entry + 8, 2);  // a SHORT sits in the first 2 bytes of the value field
      return read(entry + 2, 2) == 3 && read(entry + 4, 4) == 1 && value >= 1 && value <= 8 ? value : 1;
    }
    return 1;
  }
  return 1;
}

ImageHeader read_image_header(const std::string& path) { return header_of(read_bytes(path), path); }

Image load_image(const std::string& path) { return decode(path, 0); }

Image load_gray(const std::string& path) { return decode(path, 1); }

void save_png(const std::string& path, const Image& image) {
  const std::vector<unsigned char> bytes = to_bytes(image, path);
  std::vector<unsigned char> encoded;
  const int ok = stbi_write_png_to_func(append_bytes, &encoded, image.width, image.height, image.channels,
                                        bytes.data(), image.width * image.channels);
  KEYNET_CHECK(ok != 0, "cannot encode PNG file '", path, "' (", image.width, "x", image.height, ")");
  write_file(path, encoded, "PNG");
}

void save_jpeg(const std::string& path, const Image& image, int quality) {
  const std::vector<unsigned char> bytes = to_bytes(image, path);
  std::vector<unsigned char> encoded;
  const int ok = stbi_write_jpg_to_func(append_bytes, &encoded, image.width, image.height, image.channels,
                                        bytes.data(), quality);
  KEYNET_CHECK(ok != 0, "cannot encode JPEG file '", path, "' (", image.width, "x", image.height, ")");
  write_file(path, encoded, "JPEG");
}

Image to_gray(const Image& image) {
  if (image.channels == 1) return image;
  Image gray(image.width, image.height, 1);
  const size_t count = static_cast<size_t>(image.width) * image.height;
  for (size_t i = 0; i < count; ++i) {
    const float* p = &image.pixels[i * 3];
    gray.pixels[i] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
  }
  return gray;
}

Image to_rgb(const Image& image) {
  if (image.channels == 3) return image;
  Image rgb(image.width, image.height, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = image.pixels[i];
  return rgb;
}

Image box_downsample(const Image& src, int factor) {
  KEYNET_CHECK(factor >= 1, "box_downsample: factor must be >= 1, got ", factor);
  const int w = (src.width + factor - 1) / factor, h = (src.height + factor - 1) / factor, ch = src.channels;
  Image out(w, h, ch);
  std::vector<float> row_sum(static_cast<size_t>(w) * ch);
  for (int oy = 0; oy < h; ++oy) {
    std::fill(row_sum.begin(), row_sum.end(), 0.0f);
    const int y0 = oy * factor, y1 = std::min(src.height, y0 + factor);
    for (int y = y0; y < y1; ++y) {
      const float* row = &src.pixels[static_cast<size_t>(y) * src.width * ch];
      for (int ox = 0; ox < w; ++ox) {
        const int x0 = ox * factor, x1 = std::min(src.width, x0 + factor);
        float* sum = &row_sum[static_cast<size_t>(ox) * ch];
        if (ch == 1) {  // the common gray case, kept free of the channel loop
          float total = 0;
          for (int x = x0; x < x1; ++x) total += row[x];
          sum[0] += total;
          continue;
        }
        for (int x = x0; x < x1; ++x)
          for (int c = 0; c < ch; ++c) sum[c] += row[x * ch + c];
      }
    }
    for (int ox = 0; ox < w; ++ox) {
      const int x0 = ox * factor, x1 = std::min(src.width, x0 + factor);
      const float inv_area = 1.0f / static_cast<float>((x1 - x0) * (y1 - y0));
      for (int c = 0; c < ch; ++c) out.at(ox, oy, c) = row_sum[static_cast<size_t>(ox) * ch + c] * inv_area;
    }
  }
  return out;
}


Image warp_affine(const Image& src, const Affine& src_to_dst, int out_width, int out_height, Border border) {
  KEYNET_CHECK(!src.empty(), "warp_affine: empty source image");
  Affine dst_to_src = src_to_dst.inverse();
  const Image* source = &src;
  Image reduced;
  const double shrink = std::sqrt(std::abs(dst_to_src.determinant()));  // source pixels per output pixel
  if (shrink >= 2.0) {
    const int factor = static_cast<int>(std::floor(shrink));
    reduced = box_downsample(src, factor);
    // Source pixel centre x lies at (x + 0.5) / factor - 0.5 in the reduced image.
    const double s = 1.0 / factor;
    dst_to_src = Affine{s, 0, 0.5 * s - 0.5, 0, s, 0.5 * s - 0.5} * dst_to_src;
    source = &reduced;
  }
  Image out(out_width, out_height, src.channels);
  const Affine& m = dst_to_src;
  float* dst = out.pixels.data();
  for (int y = 0; y < out_height; ++y) {
    double sx = m.b * y + m.c, sy = m.e * y + m.f;  // source position of output (0, y)
    for (int x = 0; x < out_width; ++x, sx += m.a, sy += m.d, dst += src.channels)
      sample_bilinear(*source, sx, sy, border, dst);
  }
  return out;
}

Image resize(const Image& src, int width, int height) {
  return warp_affine(src, Affine::resize(src.width, src.height, width, height), width, height,
                     Border{BorderMode::Replicate, 0});
}

void adjust_brightness_contrast(Image& image, float brightness, float contrast) {
  for (float& v : image.pixels) v = std::clamp((v - 127.5f) * contrast + 127.5f + brightness, 0.0f, 255.0f);
}

void write_unit_range(const Image& image, float* dst) {
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  for (int c = 0; c < image.channels; ++c)
    for (size_t i = 0; i < plane; ++i) dst[c * plane + i] = image.pixels[i * image.channels + c] / 255.0f - 0.5f;
}

Tensor to_tensor(const Image& image) {
  KEYNET_CHECK(!image.empty(), "to_tensor: empty image");
  Tensor t = Tensor::empty({1, image.channels, image.height, image.width});
  write_unit_range(image, t.data<float>());
  return t;
}

Image from_tensor(const Tensor& tensor) {
  KEYNET_CHECK(tensor.is_cpu() && tensor.dtype() == DType::F32, "from_tensor: need a CPU float32 tensor, got ",
               tensor.describe());
  const bool batched = tensor.ndim() == 4;
  KEYNET_CHECK((tensor.ndim() == 3 || (batched && tensor.dim(0) == 1)),
               "from_tensor: need shape (C,H,W) or (1,C,H,W), got ", tensor.describe());
  const int c = static_cast<int>(tensor.dim(-3)), h = static_cast<int>(tensor.dim(-2)),
            w = static_cast<int>(tensor.dim(-1));
  Image image(w, h, c);
  const float* src = tensor.data<float>();
  const size_t plane = static_cast<size_t>(w) * h;
  for (int k = 0; k < c; ++k)
    for (size_t i = 0; i < plane; ++i)
      image.pixels[i * c + k] = std::clamp((src[k * plane + i] + 0.5f) * 255.0f, 0.0f, 255.0f);
  return image;
}

}  // namespace keynet::data
