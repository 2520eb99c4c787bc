// Images and geometry: Affine algebra, stb load/save, gray conversion, resize and warp.
#include <doctest/doctest.h>
#include <stb_image_write.h>

#include <cmath>
#include <cstdlib>
#include <optional>

#include "data/affine.h"
#include "data/image.h"
#include "tensor/rng.h"
#include "test_data_support.h"

using namespace keynet::data;
using namespace keynet::data::testing;

namespace {

Affine random_affine(keynet::Rng& rng) {
  return {rng.uniform(0.5, 2), rng.uniform(-0.5, 0.5), rng.uniform(-50, 50),
          rng.uniform(-0.5, 0.5), rng.uniform(0.5, 2), rng.uniform(-50, 50)};
}

// A gray image with Gaussian dots (sigma 1.5 px, peak 200 on 20) centred at `dots`.
Image dots_image(int w, int h, const std::vector<Point>& dots) {
  Image image(w, h, 1, 20.0f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (const Point& d : dots) {
        const double r2 = (x - d.x) * (x - d.x) + (y - d.y) * (y - d.y);
        image.at(x, y) += static_cast<float>(180.0 * std::exp(-r2 / (2 * 1.5 * 1.5)));
      }
  return image;
}

// The brightest pixel within `radius` of `near`, and the intensity-weighted centre around it.
std::pair<Point, Point> peak_near(const Image& image, const Point& near, int radius) {
  int bx = -1, by = -1;
  float best = -1;
  for (int y = static_cast<int>(near.y) - radius; y <= static_cast<int>(near.y) + radius; ++y)
    for (int x = static_cast<int>(near.x) - radius; x <= static_cast<int>(near.x) + radius; ++x)
      if (x >= 0 && y >= 0 && x < image.width && y < image.height && image.at(x, y) > best)
        best = image.at(x, y), bx = x, by = y;
  double sum = 0, sx = 0, sy = 0;
  for (int y = by - 3; y <= by + 3; ++y)
    for (int x = bx - 3; x <= bx + 3; ++x) {
      const double v = std::max(0.0f, image.at(x, y) - 20.0f);
      sum += v, sx += v * x, sy += v * y;
    }
  return {Point{double(bx), double(by)}, Point{sx / sum, sy / sum}};
}

// The bytes of a PNG with the size in its IHDR chunk replaced and the chunk's CRC redone, so that only
// the declared size is wrong.
std::string png_declaring(std::string png, uint32_t width, uint32_t height) {
  for (int i = 0; i < 4; ++i) {
    png[16 + i] = static_cast<char>(width >> (24 - 8 * i));
    png[20 + i] = static_cast<char>(height >> (24 - 8 * i));
  }
  uint32_t crc = 0xFFFFFFFF;  // CRC-32 of the chunk type and data, bytes 12..28
  for (int i = 12; i < 29; ++i) {
    crc ^= static_cast<unsigned char>(png[i]);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320 & (0 - (crc & 1)));
  }
  crc ^= 0xFFFFFFFF;
  for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<char>(crc >> (24 - 8 * i));
  return png;
}

// The bytes of a JPEG with the size in its (baseline) frame header replaced.
std::string jpeg_declaring(std::string jpeg, uint16_t width, uint16_t height) {
  const size_t sof = jpeg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  jpeg[sof + 5] = static_cast<char>(height >> 8), jpeg[sof + 6] = static_cast<char>(height);
  jpeg[sof + 7] = static_cast<char>(width >> 8), jpeg[sof + 8] = static_cast<char>(width);
  return jpeg;
}

// Sets KEYNET_MAX_PIXELS (unsets it for nullopt) for one scope and then puts back what was there.
class PixelLimit {
 public:
  explicit PixelLimit(std::optional<std::string> value) {
    if (const char* old = std::getenv("KEYNET_MAX_PIXELS")) old_ = old;
    set(value);
  }
  ~PixelLimit() { set(old_); }

 private:
  static void set(const std::optional<std::string>& value) {
    if (value)
      setenv("KEYNET_MAX_PIXELS", value->c_str(), 1);
    else
      unsetenv("KEYNET_MAX_PIXELS");
  }
  std::optional<std::string> old_;
};

using Bytes = std::vector<unsigned char>;

// The start of a JPEG: the start-of-image marker and one APP1 segment holding "Exif\0\0" and `tiff`.
Bytes jpeg_with_exif(const Bytes& tiff) {
  Bytes out = {0xFF, 0xD8, 0xFF, 0xE1};
  const size_t length = 2 + 6 + tiff.size();
  out.push_back(static_cast<unsigned char>(length >> 8));
  out.push_back(static_cast<unsigned char>(length));
  for (char c : std::string("Exif\0\0", 6)) out.push_back(static_cast<unsigned char>(c));
  out.insert(out.end(), tiff.begin(), tiff.end());
  return out;
}

// A TIFF header and an IFD0 with one entry (tag, type, count, a SHORT value), in either byte order.
Bytes tiff_with_entry(bool big_endian, uint16_t tag, uint16_t type, uint32_t count, uint16_t value) {
  Bytes out;
  auto put = [&](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      out.push_back(static_cast<unsigned char>(v >> 8 * (big_endian ? bytes - 1 - i : i)));
  };
  out.push_back(big_endian ? 'M' : 'I'), out.push_back(big_endian ? 'M' : 'I');
  put(42, 2), put(8, 4);                          // IFD0 right after the header
  put(1, 2);                                      // one entry
  put(tag, 2), put(type, 2), put(count, 4), put(value, 2), put(0, 2);
  put(0, 4);                                      // no next IFD
  return out;
}

Bytes bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

// The largest and the mean absolute difference between two images of one size.
std::pair<double, double> difference(const Image& a, const Image& b) {
  double worst = 0, mean = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = std::abs(a.pixels[i] - b.pixels[i]);
    worst = std::max(worst, d);
    mean += d / a.pixels.size();
  }
  return {worst, mean};
}

}  // namespace

TEST_CASE("Affine: compose, inverse and apply") {
  keynet::Rng rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const Affine a = random_affine(rng), b = random_affine(rng);
    const Point p{rng.uniform(-100, 100), rng.uniform(-100, 100)};
    const Point ab = (a * b).apply(p), expected = a.apply(b.apply(p));
    CHECK(ab.x == doctest::Approx(expected.x).epsilon(1e-12));
    CHECK(ab.y == doctest::Approx(expected.y).epsilon(1e-12));
    const Point back = a.inverse().apply(a.apply(p));
    CHECK(std::abs(back.x - p.x) < 1e-9);
    CHECK(std::abs(back.y - p.y) < 1e-9);
  }
  // rotation by 90 degrees with y pointing down takes +x to +y
  const Point r = Affine::rotation(M_PI / 2).apply({1, 0});
  CHECK(std::abs(r.x) < 1e-12);
  CHECK(r.y == doctest::Approx(1.0));
  const Point m = Affine::mirror_x(10).apply({2, 5});
  CHECK(m.x == 7);
  CHECK(m.y == 5);
  const Point c = Affine::about({10, 10}, Affine::scaling(2, 2)).apply({10, 10});
  CHECK(c.x == doctest::Approx(10.0));
  // resize: the outer pixel edges map onto each other
  const Affine rs = Affine::resize(640, 480, 160, 120);
  CHECK(rs.apply({-0.5, -0.5}).x == doctest::Approx(-0.5));
  CHECK(rs.apply({639.5, 479.5}).y == doctest::Approx(119.5));
  CHECK(contains(error_of([] { Affine::scaling(0, 1).inverse(); }), "singular"));
}

TEST_CASE("PNG round trip is exact; JPEG is close; gray conversion") {
  TempDir dir("image_io");
  keynet::Rng rng(3);
  Image rgb(17, 9, 3);
  for (float& v : rgb.pixels) v = static_cast<float>(rng.below(256));
  save_png(dir.file("rgb.png"), rgb);
  const Image back = load_image(dir.file("rgb.png"));
  REQUIRE(back.width == 17);
  REQUIRE(back.height == 9);
  REQUIRE(back.channels == 3);
  CHECK(back.pixels == rgb.pixels);

  const Image gray = to_gray(rgb);
  CHECK(gray.channels == 1);
  CHECK(gray.at(4, 5) == doctest::Approx(0.299 * rgb.at(4, 5, 0) + 0.587 * rgb.at(4, 5, 1) + 0.114 * rgb.at(4, 5, 2)));
  save_png(dir.file("gray.png"), gray);
  const Image gray_back = load_image(dir.file("gray.png"));
  CHECK(gray_back.channels == 1);
  CHECK(std::abs(gray_back.at(4, 5) - std::round(gray.at(4, 5))) < 1e-6);

  Image smooth(32, 32, 1);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) smooth.at(x, y) = static_cast<float>(4 * x + 2 * y);
  save_jpeg(dir.file("smooth.jpg"), smooth, 95);
  const Image jpeg = to_gray(load_image(dir.file("smooth.jpg")));  // stb writes every JPEG as YCbCr
  double worst = 0;
  for (size_t i = 0; i < jpeg.pixels.size(); ++i) worst = std::max(worst, double(std::abs(jpeg.pixels[i] - smooth.pixels[i])));
  CHECK(worst < 8);
}

TEST_CASE("load_gray agrees with to_gray(load_image)") {
  TempDir dir("gray");
  keynet::Rng rng(4);
  Image rgb(16, 16, 3);
  for (float& v : rgb.pixels) v = static_cast<float>(rng.below(256));
  save_png(dir.file("rgb.png"), rgb);
  for (const std::string& path : {fixture("imm/01-1m.jpg"), fixture("ibug/afw/5082623456_2.jpg"), dir.file("rgb.png")}) {
    CAPTURE(path);
    const Image direct = load_gray(path), converted = to_gray(load_image(path));
    REQUIRE(direct.channels == 1);
    REQUIRE(direct.pixels.size() == converted.pixels.size());
    double worst = 0, mean = 0;
    for (size_t i = 0; i < direct.pixels.size(); ++i) {
      const double d = std::abs(direct.pixels[i] - converted.pixels[i]);
      worst = std::max(worst, d);
      mean += d / direct.pixels.size();
    }
    CHECK(worst <= 2.0);
    CHECK(mean < 0.6);
  }
}

TEST_CASE("alpha is dropped") {
  TempDir dir("alpha");
  const unsigned char rgba[8] = {10, 20, 30, 255, 40, 50, 60, 0};
  REQUIRE(stbi_write_png(dir.file("rgba.png").c_str(), 2, 1, 4, rgba, 8) != 0);
  const Image im = load_image(dir.file("rgba.png"));
  CHECK(im.channels == 3);
  CHECK(im.at(1, 0, 2) == 60);
  const unsigned char gray_alpha[4] = {77, 255, 99, 0};
  REQUIRE(stbi_write_png(dir.file("ga.png").c_str(), 2, 1, 2, gray_alpha, 4) != 0);
  const Image g = load_image(dir.file("ga.png"));
  CHECK(g.channels == 1);
  CHECK(g.at(1, 0) == 99);
}

TEST_CASE("bad image files raise errors that name the file") {
  TempDir dir("bad_images");
  CHECK(contains(error_of([&] { load_image(dir.file("missing.jpg")); }), "missing.jpg"));
  CHECK(contains(error_of([&] { load_image(dir.file("missing.jpg")); }), "does not exist"));
  const std::string garbage = dir.write("garbage.png", "this is not an image at all, just text");
  CHECK(contains(error_of([&] { load_image(garbage); }), "garbage.png"));
  CHECK(contains(error_of([&] { load_image(dir.write("empty.jpg", "")); }), "empty.jpg"));

  const std::string jpeg = read_text(fixture("imm/01-1m.jpg"));
  const std::string cut_jpeg = dir.write("cut.jpg", jpeg.substr(0, jpeg.size() / 2));
  CHECK(contains(error_of([&] { load_image(cut_jpeg); }), "cut.jpg' is truncated"));
  CHECK(error_of([&] { load_image(fixture("imm/01-1m.jpg")); }) == "<no error>");

  Image im(20, 20, 3, 100.0f);
  save_png(dir.file("ok.png"), im);
  const std::string png = read_text(dir.file("ok.png"));
  const std::string cut_png = dir.write("cut.png", png.substr(0, png.size() - 20));
  CHECK(contains(error_of([&] { load_image(cut_png); }), "cut.png"));

  // Found by fuzzing (fuzz/crashes/image/): a JPEG whose Huffman table declares more codes than exist,
  // which made stb_image 2.27 write past its arrays.
  const std::string huffman = std::string(KEYNET_SOURCE_DIR) + "/fuzz/crashes/image/jpeg_huffman_table_1042_codes";
  CHECK(contains(error_of([&] { load_image(huffman); }), "a Huffman table declares 1042 codes, at most 256"));
}

TEST_CASE("resize keeps a linear ramp linear, with and without area averaging") {
  Image ramp(64, 48, 1);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) ramp.at(x, y) = static_cast<float>(x + 0.5 * y);
  for (const auto [w, h] : {std::pair{32, 24}, std::pair{16, 12}, std::pair{10, 7}, std::pair{100, 75}}) {
    CAPTURE(w);
    const Image out = resize(ramp, w, h);
    const Affine back = Affine::resize(w, h, 64, 48);
    // Interior pixels (whose footprint stays inside the source) equal the ramp at the mapped centre.
    for (int y = 2; y < h - 2; ++y)
      for (int x = 2; x < w - 2; ++x) {
        const Point s = back.apply({double(x), double(y)});
        REQUIRE(out.at(x, y) == doctest::Approx(s.x + 0.5 * s.y).epsilon(1e-4));
      }
  }
  // Area averaging: a 1-pixel checkerboard shrunk 4x becomes flat gray, not aliased.
  Image checker(64, 64, 1);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) checker.at(x, y) = ((x + y) % 2) ? 255.0f : 0.0f;
  const Image small = resize(checker, 16, 16);
  for (float v : small.pixels) REQUIRE(v == doctest::Approx(127.5));
  const Image box = box_downsample(checker, 3);
  CHECK(box.width == 22);
  CHECK(box.at(0, 0) == doctest::Approx(255.0 * 4 / 9));
  CHECK(box.at(21, 0) == doctest::Approx(255.0 * 2 / 3));  // the 1x3 edge block of source column 63
}

TEST_CASE("warped dots stay on the warped points") {
  const std::vector<Point> dots = {{20.3, 30.7}, {70.5, 25.2}, {45.0, 60.6}, {30.8, 75.1}};
  const Image image = dots_image(100, 100, dots);
  keynet::Rng rng(11);
  for (int trial = 0; trial < 6; ++trial) {
    const Affine t = Affine::translation(rng.uniform(-5, 5), rng.uniform(-5, 5)) *
                     Affine::about({50, 50}, Affine::rotation(rng.uniform(-0.5, 0.5)) *
                                                 Affine::scaling(rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25)));
    const Image warped = warp_affine(image, t, 100, 100, {BorderMode::Constant, 20.0f});
    for (const Point& d : dots) {
      const Point expected = t.apply(d);
      const auto [peak, centroid] = peak_near(warped, expected, 4);
      CAPTURE(expected.x);
      CAPTURE(expected.y);
      CHECK(std::abs(peak.x - expected.x) <= 0.5 + 1e-9);
      CHECK(std::abs(peak.y - expected.y) <= 0.5 + 1e-9);
      CHECK(std::hypot(centroid.x - expected.x, centroid.y - expected.y) < 0.2);
    }
  }
}

TEST_CASE("border modes") {
  Image im(4, 4, 1, 100.0f);
  const Affine shift = Affine::translation(10, 0);  // the whole source moves out of view on the left
  const Image constant = warp_affine(im, shift, 4, 4, {BorderMode::Constant, 7.0f});
  for (float v : constant.pixels) CHECK(v == 7.0f);
  im.at(0, 2) = 50.0f;
  const Image replicate = warp_affine(im, shift, 4, 4, {BorderMode::Replicate, 0.0f});
  CHECK(replicate.at(3, 2) == 50.0f);
  CHECK(replicate.at(3, 1) == 100.0f);
}

TEST_CASE("tensor conversion and brightness/contrast") {
  Image im(3, 2, 1);
  im.pixels = {0, 255, 127.5f, 51, 102, 204};
  const keynet::Tensor t = to_tensor(im);
  CHECK(t.shape() == keynet::Shape{1, 1, 2, 3});
  CHECK(t.at({0, 0, 0, 0}) == doctest::Approx(-0.5));
  CHECK(t.at({0, 0, 0, 1}) == doctest::Approx(0.5));
  CHECK(t.at({0, 0, 1, 0}) == doctest::Approx(51.0 / 255 - 0.5));
  const Image back = from_tensor(t);
  for (size_t i = 0; i < im.pixels.size(); ++i) CHECK(back.pixels[i] == doctest::Approx(im.pixels[i]).epsilon(1e-5));
  adjust_brightness_contrast(im, 10, 2);
  CHECK(im.pixels[0] == 0.0f);                             // clamped
  CHECK(im.pixels[2] == doctest::Approx(137.5));           // mid-gray only shifts
  CHECK(im.pixels[4] == doctest::Approx((102 - 127.5) * 2 + 137.5));
}

TEST_CASE("an image over the pixel limit is refused from its header, before it is decoded") {
  TempDir dir("pixel_limit");
  const PixelLimit unset(std::nullopt);
  CHECK(max_image_pixels() == 64'000'000);
  save_png(dir.file("small.png"), Image(4, 4, 3, 100.0f));
  const std::string png = read_text(dir.file("small.png"));

  // 16000x12000 declared by a file of a few dozen bytes: stb would allocate 576 MB before finding that
  // the pixel data is missing; the header alone is enough to refuse it.
  const std::string huge = dir.write("huge.png", png_declaring(png, 16000, 12000));
  const std::string expected = "image file '" + huge +
                               "': 16000x12000 pixels (192 megapixels) is over keynet's limit of 64 megapixels; "
                               "set KEYNET_MAX_PIXELS";
  CHECK(contains(error_of([&] { load_image(huge); }), expected));
  CHECK(contains(error_of([&] { load_gray(huge); }), expected));
  CHECK(contains(error_of([&] { read_image_header(huge); }), expected));
  save_jpeg(dir.file("small.jpg"), Image(4, 4, 3, 100.0f));
  const std::string jpeg = read_text(dir.file("small.jpg"));
  const std::string huge_jpeg = dir.write("huge.jpg", jpeg_declaring(jpeg, 65000, 1001));
  CHECK(contains(error_of([&] { load_image(huge_jpeg); }), "65000x1001 pixels (65.1 megapixels) is over"));

  // A header that declares no pixels at all.
  const std::string empty_png = dir.write("zero.png", png_declaring(png, 0, 4));
  CHECK(contains(error_of([&] { load_image(empty_png); }), "zero.png' declares a 0x4 image: it has no pixels"));
  const std::string empty_jpeg = dir.write("zero.jpg", jpeg_declaring(jpeg, 24, 0));
  CHECK(contains(error_of([&] { load_image(empty_jpeg); }), "zero.jpg' declares a 24x0 image: it has no pixels"));

  // KEYNET_MAX_PIXELS moves the limit either way; the limit itself is allowed.
  save_png(dir.file("20x20.png"), Image(20, 20, 1, 9.0f));
  {
    const PixelLimit lower("399");
    CHECK(contains(error_of([&] { load_image(dir.file("20x20.png")); }),
                   "20x20 pixels (400 pixels) is over keynet's limit of 399 pixels"));
  }
  {
    const PixelLimit exact("400");
    CHECK(load_image(dir.file("20x20.png")).width == 20);
    CHECK(read_image_header(dir.file("20x20.png")).height == 20);
  }
  for (const char* bad : {"", "abc", "0", "-5", "12abc", "1e8", "99999999999999999999999"}) {
    CAPTURE(bad);
    const PixelLimit invalid(bad);
    const std::string message = error_of([&] { load_image(dir.file("20x20.png")); });
    CHECK(contains(message, "KEYNET_MAX_PIXELS='" + std::string(bad) + "' is not a positive whole number of pixels"));
  }
}

TEST_CASE("EXIF orientation: each of the 8 values loads upright") {
  const Image upright = load_image(fixture("exif/upright.png"));
  REQUIRE(upright.width == 24);
  REQUIRE(upright.height == 16);
  const Image upright_gray = to_gray(upright);
  for (int v = 1; v <= 8; ++v) {
    CAPTURE(v);
    const std::string path = fixture("exif/orientation_" + std::to_string(v) + ".jpg");
    CHECK(exif_orientation(bytes_of(read_text(path))) == v);
    const ImageHeader header = read_image_header(path);
    CHECK(header.width == 24);
    CHECK(header.height == 16);
    CHECK(header.orientation == v);
    // The pattern's ramps rise 9 and 14 levels a pixel: a flip or rotation, or a shift by one pixel,
    // breaks these bounds; JPEG at quality 100 stays within 2.
    const Image rgb = load_image(path), gray = load_gray(path);
    REQUIRE(rgb.width == 24);
    REQUIRE(rgb.height == 16);
    REQUIRE(rgb.channels == 3);
    const auto [worst, mean] = difference(rgb, upright);
    CHECK(worst <= 6);
    CHECK(mean <= 1.5);
    REQUIRE(gray.width == 24);
    REQUIRE(gray.height == 16);
    const auto [gray_worst, gray_mean] = difference(gray, upright_gray);
    CHECK(gray_worst <= 6);
    CHECK(gray_mean <= 1.5);
  }
}

TEST_CASE("the EXIF reader: both byte orders, and malformed EXIF is ignored without reading past it") {
  CHECK(exif_orientation(jpeg_with_exif(tiff_with_entry(true, 0x0112, 3, 1, 6))) == 6);
  CHECK(exif_orientation(jpeg_with_exif(tiff_with_entry(false, 0x0112, 3, 1, 8))) == 8);
  // Fill bytes before the start-of-image marker, and an XMP segment (also APP1) before the EXIF one.
  Bytes xmp = {0xFF, 0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x07, 'h', 't', 't', 'p', ':'};
  const Bytes exif = jpeg_with_exif(tiff_with_entry(false, 0x0112, 3, 1, 5));
  xmp.insert(xmp.end(), exif.begin() + 2, exif.end());
  CHECK(exif_orientation(xmp) == 5);

  // Values EXIF does not define, another type or count, another tag: as stored.
  CHECK(exif_orientation(jpeg_with_exif(tiff_with_entry(true, 0x0112, 3, 1, 0))) == 1);
  CHECK(exif_orientation(jpeg_with_exif(tiff_with_entry(true, 0x0112, 3, 1, 9))) == 1);
  CHECK(exif_orientation(jpeg_with_exif(tiff_with_entry(true, 0x0112, 4, 1, 6))) == 1);
  CHECK(exif_orientation(jpeg_with_exif(tiff_with_entry(true, 0x0112, 3, 2, 6))) == 1);
  CHECK(exif_orientation(jpeg_with_exif(tiff_with_entry(true, 0x0110, 3, 1, 6))) == 1);
  // Offsets and counts that point past the segment.
  Bytes far = tiff_with_entry(false, 0x0112, 3, 1, 6);
  far[4] = far[5] = far[6] = far[7] = 0xFF;  // IFD0 at 4 GB
  CHECK(exif_orientation(jpeg_with_exif(far)) == 1);
  Bytes many = tiff_with_entry(true, 0x0110, 3, 1, 6);
  many[8] = many[9] = 0xFF;  // 65535 entries where there is one
  CHECK(exif_orientation(jpeg_with_exif(many)) == 1);
  Bytes long_segment = jpeg_with_exif(tiff_with_entry(true, 0x0112, 3, 1, 6));
  long_segment[5] += 1;  // the segment claims one byte more than the file holds
  CHECK(exif_orientation(long_segment) == 1);
  // Every prefix, each in a buffer of exactly its size (so the sanitizers see any read past it).
  const Bytes whole = jpeg_with_exif(tiff_with_entry(true, 0x0112, 3, 1, 7));
  for (size_t size = 0; size < whole.size(); ++size) {
    CAPTURE(size);
    const Bytes prefix(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(size));
    CHECK(exif_orientation(prefix) == 1);
  }
  CHECK(exif_orientation(whole) == 7);
  CHECK(exif_orientation(bytes_of(read_text(fixture("exif/upright.png")))) == 1);  // not a JPEG
}

TEST_CASE("save_png and save_jpeg say why a write failed") {
  TempDir dir("write_errors");
  const Image image(8, 8, 3, 50.0f);
  const std::string missing = dir.file("no_such_folder/out.png");
  CHECK(contains(error_of([&] { save_png(missing, image); }),
                 "cannot write PNG file '" + missing + "': No such file or directory"));
  CHECK(contains(error_of([&] { save_jpeg(dir.file("no_such_folder/out.jpg"), image); }),
                 "no_such_folder/out.jpg': No such file or directory"));
  // A full disk: stb's own writer ignored the failed write and reported success.
  if (std::filesystem::exists("/dev/full")) {
    CHECK(contains(error_of([&] { save_png("/dev/full", image); }),
                   "cannot write PNG file '/dev/full': No space left on device"));
    CHECK(contains(error_of([&] { save_jpeg("/dev/full", image); }),
                   "cannot write JPEG file '/dev/full': No space left on device"));
    CHECK(std::filesystem::exists("/dev/full"));  // a partial file is removed, never a device
  }
}
