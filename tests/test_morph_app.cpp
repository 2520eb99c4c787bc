// face_morph's pieces: keypoint files (asf, JSON round trip, bad input), eye alignment, morph frames at
// the ends, mean and caricature shapes, the one-palette GIF and the streamed morph GIF (decoded with a
// block reader written here and with stb_image), and errors that name the file at fault: bad files,
// landmarks a morph would garble, a GIF that fails part way.
#include <doctest/doctest.h>

#include <stb_image.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <set>

#include "apps/common/gif.h"
#include "apps/common/keypoint_files.h"
#include "apps/common/morph_faces.h"
#include "data/face_align.h"
#include "data/ibug.h"
#include "data/imm.h"
#include "train/metrics.h"
#include "test_data_support.h"

using namespace keynet;
using namespace keynet::apps;
using namespace keynet::data::testing;
using data::Image;
using data::Point;

namespace {

float max_abs_difference(const Image& a, const Image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  float worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(a.pixels[i] - b.pixels[i]));
  return worst;
}

// The fixture faces are 160x120 copies of IMM photos; their .asf coordinates scale to that size.
Face fixture_face(const std::string& stem) { return load_face(fixture("imm/" + stem + ".asf")); }

std::vector<Image> all_frames(const MorphPair& pair, int frames) {
  std::vector<Image> out;
  for (int k = 0; k < frames; ++k) out.push_back(sequence_frame(pair, k, frames));
  return out;
}

size_t files_in(const std::string& folder) {
  return std::distance(std::filesystem::directory_iterator(folder), std::filesystem::directory_iterator());
}

// What a GIF's blocks say, read without decoding the pixels.
struct GifBlocks {
  int width = 0, height = 0;
  int global_colours = 0;  // 0: no global colour table
  int frames = 0;
  int local_tables = 0;           // frames carrying their own palette
  std::vector<int> delays;        // hundredths of a second, from the graphic control extensions
};

GifBlocks read_gif_blocks(const std::string& bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  size_t at = 0;
  auto byte = [&] {
    REQUIRE(at < size);
    return p[at++];
  };
  auto u16 = [&] {
    const int low = byte();
    return low | byte() << 8;
  };
  auto skip_sub_blocks = [&] {
    for (int length = byte(); length != 0; length = byte()) at += length;
  };
  REQUIRE(bytes.substr(0, 6) == "GIF89a");
  at = 6;
  GifBlocks gif;
  gif.width = u16();
  gif.height = u16();
  const int packed = byte();
  at += 2;  // background colour, aspect ratio
  if (packed & 0x80) gif.global_colours = 1 << ((packed & 7) + 1);
  at += 3 * gif.global_colours;
  for (;;) {
    const int introducer = byte();
    if (introducer == 0x3B) break;  // trailer
    if (introducer == 0x21) {       // extension
      const int label = byte();
      if (label == 0xF9) {  // graphic control: size 4, flags, delay, transparent index, terminator
        REQUIRE(byte() == 4);
        at += 1;
        gif.delays.push_back(u16());
        at += 2;
      } else {
        skip_sub_blocks();
      }
      continue;
    }
    REQUIRE(introducer == 0x2C);  // image descriptor
    at += 8;                      // left, top, width, height
    const int frame_packed = byte();
    if (frame_packed & 0x80) {
      ++gif.local_tables;
      at += 3 * (1 << ((frame_packed & 7) + 1));
    }
    at += 1;  // LZW minimum code size
    skip_sub_blocks();
    ++gif.frames;
  }
  return gif;
}

// 58 IMM-ordered points whose eye contours (13-20 on the image's right, 21-28 on its left) circle the
// given centres; the other points spread below them.
std::vector<Point> synthetic_imm_points(const Point& image_left_eye, const Point& image_right_eye) {
  std::vector<Point> points(58);
  for (int i = 0; i < 58; ++i) points[i] = {40.0 + i * 2.0, 120.0 + (i % 5) * 7.0};
  for (int k = 0; k < 8; ++k) {
    const double angle = k * 3.14159265358979 / 4;
    points[13 + k] = {image_right_eye.x + 6 * std::cos(angle), image_right_eye.y + 3 * std::sin(angle)};
    points[21 + k] = {image_left_eye.x + 6 * std::cos(angle), image_left_eye.y + 3 * std::sin(angle)};
  }
  return points;
}

}  // namespace

TEST_CASE("keypoints from an IMM .asf scale to the image's size and bring the image") {
  const Face face = fixture_face("01-1m");
  CHECK(face.image.width == 160);
  CHECK(face.image.height == 120);
  CHECK(face.image.channels == 3);
  REQUIRE(face.points.size() == 58);
  const data::ImmShape shape = data::read_imm_asf(fixture("imm/01-1m.asf"), 160, 120);
  CHECK(face.points[data::kImmNoseTip].x == doctest::Approx(shape.points[data::kImmNoseTip].x));
  CHECK(contains(face.image_path, "01-1m.jpg"));
  // the image with its .asf beside it, and with the .asf named
  CHECK(load_face(fixture("imm/01-1m.jpg")).points.size() == 58);
  CHECK(load_face(fixture("imm/01-1m.jpg"), fixture("imm/01-1m.asf")).points[3].y == doctest::Approx(face.points[3].y));
}

TEST_CASE("alignment puts the eye centres on the canvas's eye places, pixels and points alike") {
  // 200x100: the eye places are whole pixels, (86, 48) and (114, 48)
  const data::Canvas canvas = data::make_canvas(200, 100);
  CHECK(canvas.left_eye.x == doctest::Approx(86));
  CHECK(canvas.right_eye.x == doctest::Approx(114));
  CHECK(canvas.left_eye.y == doctest::Approx(48));
  // a tilted, larger photo with a bright spot on each eye centre
  const Point left{150, 110}, right{230, 90};
  Face face;
  face.points_path = "synthetic.asf";
  face.image = Image(400, 300, 3, 0.0f);
  for (const Point& eye : {left, right})
    for (int dy = -3; dy <= 3; ++dy)
      for (int dx = -3; dx <= 3; ++dx)
        for (int c = 0; c < 3; ++c) face.image.at(int(eye.x) + dx, int(eye.y) + dy, c) = 255.0f;
  face.points = synthetic_imm_points(left, right);
  const AlignedFace aligned = align_face(face, canvas);
  const data::EyeCentres eyes = data::eye_centres(aligned.points, "aligned");
  CHECK(eyes.left.x == doctest::Approx(86));
  CHECK(eyes.left.y == doctest::Approx(48));
  CHECK(eyes.right.x == doctest::Approx(114));
  CHECK(eyes.right.y == doctest::Approx(48));
  CHECK(aligned.image.at(86, 48, 0) > 200.0f);
  CHECK(aligned.image.at(114, 48, 1) > 200.0f);
  CHECK(aligned.image.at(100, 48, 2) < 10.0f);

  // iBUG's 68 points: eyes 36-41 (image left) and 42-47 (image right)
  std::vector<Point> ibug(68, Point{0, 0});
  for (int i = 36; i <= 41; ++i) ibug[i] = {10.0 + (i - 36), 20};
  for (int i = 42; i <= 47; ++i) ibug[i] = {50.0 + (i - 42), 20};
  const data::EyeCentres ibug_eyes = data::eye_centres(ibug, "x.pts");
  CHECK(ibug_eyes.left.x == doctest::Approx(12.5));
  CHECK(ibug_eyes.right.x == doctest::Approx(52.5));

  // real faces: their eyes land there too
  const data::Canvas imm_canvas = data::make_canvas(160, 120);
  for (const char* stem : {"01-1m", "19-1m", "36-1m"}) {
    const data::EyeCentres real = data::eye_centres(align_face(fixture_face(stem), imm_canvas).points, stem);
    CHECK(real.left.x == doctest::Approx(imm_canvas.left_eye.x));
    CHECK(real.right.y == doctest::Approx(imm_canvas.right_eye.y));
  }
}

TEST_CASE("a morph at fractions 0 and 1 returns the two aligned faces") {
  const data::Canvas canvas = data::make_canvas(160, 120);
  const MorphPair pair =
      make_morph_pair(align_face(fixture_face("01-1m"), canvas), align_face(fixture_face("36-1m"), canvas), canvas);
  CHECK(pair.mesh_a.size() == 58 + 8);
  CHECK(max_abs_difference(morph_frame(pair, 0, 0), pair.a.image) < 1e-3f);
  CHECK(max_abs_difference(morph_frame(pair, 1, 1), pair.b.image) < 1e-3f);
  // the midway frame covers the canvas: no pixel left at the warp's fill of 0 in every channel
  const Image midway = morph_frame(pair, 0.5, 0.5);
  int black = 0;
  for (int y = 0; y < midway.height; ++y)
    for (int x = 0; x < midway.width; ++x) black += midway.at(x, y, 0) + midway.at(x, y, 1) + midway.at(x, y, 2) == 0;
  CHECK(black == 0);
  const std::vector<Image> frames = all_frames(pair, 46);
  REQUIRE(frames.size() == 46);
  CHECK(max_abs_difference(frames.front(), pair.a.image) < 1e-3f);
  CHECK(max_abs_difference(frames.back(), pair.b.image) < 1e-3f);
}

TEST_CASE("mean faces and caricature shapes") {
  const data::Canvas canvas = data::make_canvas(160, 120);
  const AlignedFace a = align_face(fixture_face("01-1m"), canvas), b = align_face(fixture_face("19-1m"), canvas);
  const MeanFace same = mean_face({a, a}, canvas);
  CHECK(max_abs_difference(same.image, a.image) < 1e-3f);
  const MeanFace mean = mean_face({a, b}, canvas);
  CHECK(mean.shape[10].x == doctest::Approx((a.points[10].x + b.points[10].x) / 2));
  const std::vector<Point> as_is = caricature_shape(a.points, mean.shape, 1.0);
  const std::vector<Point> exaggerated = caricature_shape(a.points, mean.shape, 1.5);
  const std::vector<Point> reversed = caricature_shape(a.points, mean.shape, -0.5);
  CHECK(as_is[5].x == doctest::Approx(a.points[5].x));
  CHECK(exaggerated[5].y == doctest::Approx(mean.shape[5].y + 1.5 * (a.points[5].y - mean.shape[5].y)));
  CHECK(reversed[5].x == doctest::Approx(mean.shape[5].x - 0.5 * (a.points[5].x - mean.shape[5].x)));
  CHECK(max_abs_difference(warp_to_shape(a, a.points, canvas), a.image) < 1e-3f);
}

TEST_CASE("GIF: 46 frames, the right size and delays, one global palette") {
  const data::Canvas canvas = data::make_canvas(160, 120);
  const MorphPair pair =
      make_morph_pair(align_face(fixture_face("19-1m"), canvas), align_face(fixture_face("36-1m"), canvas), canvas);
  const std::vector<Image> frames = all_frames(pair, 46);
  const std::vector<Rgb> palette = choose_palette(frames);
  CHECK(palette.size() == 255);  // one index left free for pixels unchanged since the previous frame
  const TempDir dir("morph_gif");
  write_gif(dir.file("morph.gif"), frames, palette, 30);
  const std::string bytes = read_text(dir.file("morph.gif"));

  const GifBlocks blocks = read_gif_blocks(bytes);
  CHECK(blocks.width == 160);
  CHECK(blocks.height == 120);
  CHECK(blocks.frames == 46);
  CHECK(blocks.global_colours == 256);  // 255 colours, padded to a power of two
  CHECK(blocks.local_tables == 0);
  REQUIRE(blocks.delays.size() == 46);
  int total = 0;
  for (int delay : blocks.delays) {
    CHECK((delay == 3 || delay == 4));
    total += delay;
  }
  CHECK(total == 153);  // 46 frames at 30 fps: 1.533 s

  int* delays_ms = nullptr;
  int width = 0, height = 0, count = 0, channels = 0;
  stbi_uc* pixels = stbi_load_gif_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(bytes.size()),
                                              &delays_ms, &width, &height, &count, &channels, 3);
  REQUIRE(pixels != nullptr);
  CHECK(count == 46);
  CHECK(width == 160);
  CHECK(height == 120);
  CHECK((delays_ms[0] == 30 || delays_ms[0] == 40));
  // every decoded colour of the first and last frames is a palette colour, close to the frame's pixel
  const std::set<Rgb> colours(palette.begin(), palette.end());
  for (const int k : {0, 45}) {
    double error = 0;
    bool all_in_palette = true;
    for (int i = 0; i < width * height; ++i) {
      const stbi_uc* q = pixels + (size_t(k) * width * height + i) * 3;
      all_in_palette = all_in_palette && colours.count(Rgb{q[0], q[1], q[2]}) == 1;
      for (int c = 0; c < 3; ++c) error += std::abs(q[c] - frames[k].pixels[size_t(i) * 3 + c]);
    }
    CHECK(all_in_palette);
    MESSAGE("frame " << k << ": mean absolute error " << error / (width * height * 3) << " levels");
    CHECK(error / (width * height * 3) < 4.0);
  }
  stbi_image_free(pixels);
  std::free(delays_ms);
}

TEST_CASE("palette: few colours come back exactly; delays keep the frame rate") {
  Image image(16, 16, 3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) image.at(x, y, 0) = float(x * 16), image.at(x, y, 1) = float(y * 16), image.at(x, y, 2) = 7;
  const std::vector<Rgb> palette = choose_palette({image}, 256);
  PaletteMapper mapper(palette);
  const std::vector<uint8_t> indices = mapper.map(image);
  for (int i = 0; i < 256; ++i) {
    const Rgb& colour = palette[indices[i]];
    CHECK(colour == Rgb{uint8_t((i % 16) * 16), uint8_t((i / 16) * 16), 7});
  }
  const std::vector<uint16_t> delays = gif_delays(6, 30);
  CHECK(delays == std::vector<uint16_t>{3, 4, 3, 3, 4, 3});
  CHECK(error_of([] { gif_delays(3, 0); }) != "<no error>");
}

TEST_CASE("a streamed morph GIF has every frame, handed over as it is made; up to 8 frames, today's bytes") {
  const data::Canvas canvas = data::make_canvas(160, 120);
  const MorphPair pair =
      make_morph_pair(align_face(fixture_face("19-1m"), canvas), align_face(fixture_face("36-1m"), canvas), canvas);
  const TempDir dir("morph_stream");
  for (const int frames : {6, 20}) {
    const std::string path = dir.file("morph_" + std::to_string(frames) + ".gif");
    std::vector<int> seen;
    Image middle;
    write_morph_gif(pair, frames, 30, path, [&](int k, const Image& frame) {
      seen.push_back(k);
      if (k == frames / 2) middle = frame;
    });
    std::vector<int> expected(frames);
    for (int k = 0; k < frames; ++k) expected[k] = k;
    CHECK(seen == expected);
    CHECK(files_in(dir.file("")) == (frames == 6 ? 1u : 2u));  // no temporary file left beside it
    const std::string bytes = read_text(path);
    const GifBlocks blocks = read_gif_blocks(bytes);
    CHECK(blocks.frames == frames);
    CHECK(blocks.delays.size() == size_t(frames));
    CHECK(blocks.local_tables == 0);
    int* delays_ms = nullptr;
    int width = 0, height = 0, count = 0, channels = 0;
    stbi_uc* pixels = stbi_load_gif_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(bytes.size()),
                                                &delays_ms, &width, &height, &count, &channels, 3);
    REQUIRE(pixels != nullptr);
    CHECK(count == frames);
    // the middle frame, which a palette sampled from 8 of 20 frames may not have seen, still decodes close
    double error = 0;
    const stbi_uc* decoded = pixels + size_t(frames / 2) * width * height * 3;
    for (int i = 0; i < width * height * 3; ++i) error += std::abs(decoded[i] - middle.pixels[i]);
    MESSAGE(frames << " frames: the middle one decodes with a mean absolute error of " << error / (width * height * 3)
                   << " levels");
    CHECK(error / (width * height * 3) < 4.0);
    stbi_image_free(pixels);
    std::free(delays_ms);
  }
  // Up to kPaletteSampleFrames frames the palette is sampled from all of them, as when every frame was
  // held in memory: the same palette, the same bytes.
  const std::vector<Image> frames = all_frames(pair, 6);
  write_gif(dir.file("in_memory.gif"), frames, choose_palette(frames), 30);
  CHECK(read_text(dir.file("in_memory.gif")) == read_text(dir.file("morph_6.gif")));
}

TEST_CASE("a GIF that fails part way leaves no partial file, and an existing one untouched") {
  const TempDir dir("morph_gif_fail");
  const std::string path = dir.write("morph.gif", "an earlier GIF");
  const std::vector<Rgb> palette = {Rgb{0, 0, 0}, Rgb{100, 100, 100}};
  const Image frame(8, 8, 3, 100.0f), smaller(8, 6, 3);
  const std::string message = error_of([&] { write_gif(path, {frame, frame, smaller}, palette, 30); });
  CHECK(contains(message, "morph.gif: frames differ in size"));
  CHECK(read_text(path) == "an earlier GIF");
  CHECK(files_in(dir.file("")) == 1);
  {
    GifWriter stopped(path, 8, 8, palette, 30);
    stopped.add(frame);
    CHECK(read_text(path) == "an earlier GIF");  // written beside it until finish()
  }  // never finished, as when rendering a later frame throws
  CHECK(read_text(path) == "an earlier GIF");
  CHECK(files_in(dir.file("")) == 1);
  GifWriter finished(path, 8, 8, palette, 30);
  finished.add(frame);
  finished.finish();
  CHECK(read_gif_blocks(read_text(path)).frames == 1);
  CHECK(files_in(dir.file("")) == 1);
}

TEST_CASE("points JSON round trip and entry choice") {
  const TempDir dir("morph_json");
  const Face face = fixture_face("36-1m");
  const std::vector<PointsEntry> written = {
      {"other.jpg", 640, 480, "face_points", {{1, 2}, {3, 4}}},
      {face.image_path, face.image.width, face.image.height, "face_points", face.points}};
  write_points_json(dir.file("points.json"), written);
  const std::vector<PointsEntry> read = read_points_json(dir.file("points.json"));
  REQUIRE(read.size() == 2);
  CHECK(read[0].image == "other.jpg");
  CHECK(read[0].app == "face_points");
  CHECK(read[1].width == 160);
  REQUIRE(read[1].points.size() == 58);
  for (size_t i = 0; i < 58; ++i) {
    CHECK(read[1].points[i].x == face.points[i].x);  // full precision
    CHECK(read[1].points[i].y == face.points[i].y);
  }
  // the entry whose image is this image
  const Face from_json = load_face(face.image_path, dir.file("points.json"));
  CHECK(from_json.points[20].x == face.points[20].x);
  // a one-entry file as the input: the image is named in it
  write_points_json(dir.file("one.json"), {written[1]});
  CHECK(load_face(dir.file("one.json")).image_path == face.image_path);
  // predict's output as it prints it, with a relative image path resolved beside the JSON
  std::filesystem::copy_file(face.image_path, dir.file("face.jpg"));
  dir.write("predicted.json", R"([{"image": "face.jpg", "width": 160, "height": 120, "app": "face_points",
                                   "points": [[1.5, 2.5], [3, 4]]}])");
  const Face predicted = load_face(dir.file("predicted.json"));
  CHECK(predicted.points.size() == 2);
  CHECK(predicted.points[0].y == 2.5);
}

TEST_CASE("bad input: errors name the file and the problem") {
  const TempDir dir("morph_bad");
  const std::string missing = dir.file("nobody.asf");
  std::string message = error_of([&] { load_face(missing); });
  CHECK(contains(message, "nobody.asf"));
  CHECK(contains(message, "no such"));
  message = error_of([&] { load_face(fixture("imm/01-1m.jpg"), dir.file("gone.json")); });
  CHECK(contains(message, "gone.json"));

  const std::string broken = dir.write("broken.json", "[{\"image\": \"a.jpg\", \"points\": [[1, 2], [3");
  message = error_of([&] { read_points_json(broken); });
  CHECK(contains(message, "broken.json"));
  CHECK(contains(message, "not valid JSON"));
  const std::string not_pairs = dir.write("pairs.json", R"([{"image": "a.jpg", "points": [[1, 2], [3]]}])");
  message = error_of([&] { read_points_json(not_pairs); });
  CHECK(contains(message, "pairs.json"));
  CHECK(contains(message, "point 1"));
  const std::string no_points = dir.write("nopoints.json", R"([{"image": "a.jpg"}])");
  CHECK(contains(error_of([&] { read_points_json(no_points); }), "nopoints.json"));

  // a JSON for another image size
  const std::string other_size =
      dir.write("size.json", R"([{"image": "01-1m.jpg", "width": 640, "height": 480, "points": [[1, 2]]}])");
  message = error_of([&] { load_face(fixture("imm/01-1m.jpg"), other_size); });
  CHECK(contains(message, "size.json"));
  CHECK(contains(message, "640x480"));
  // the same width, another height (the fixture photo is 160x120)
  const std::string other_height =
      dir.write("height.json", R"([{"image": "01-1m.jpg", "width": 160, "height": 90, "points": [[1, 2]]}])");
  CHECK(contains(error_of([&] { load_face(fixture("imm/01-1m.jpg"), other_height); }), "points are for a 160x90"));

  // wrong point count between A and B
  const data::Canvas canvas = data::make_canvas(160, 120);
  AlignedFace a = align_face(fixture_face("01-1m"), canvas);
  std::vector<Point> ibug(68);
  for (int i = 0; i < 68; ++i) ibug[i] = {20.0 + i, 30.0 + (i % 7)};
  const std::string pts_path = dir.file("face.pts");
  {
    std::string text = "version: 1\nn_points: 68\n{\n";
    for (const Point& p : ibug) text += std::to_string(p.x + 1) + " " + std::to_string(p.y + 1) + "\n";
    dir.write("face.pts", text + "}\n");
  }
  Face b = load_face(fixture("imm/19-1m.jpg"), pts_path);
  CHECK(b.points.size() == 68);
  message = error_of([&] { make_morph_pair(a, align_face(b, canvas), canvas); });
  CHECK(contains(message, "01-1m.asf"));
  CHECK(contains(message, "face.pts"));
  CHECK(contains(message, "58"));
  CHECK(contains(message, "68"));
  CHECK(contains(message, "one scheme"));  // and what to do about it

  // a one-entry JSON is applied only to the image it names, or to any when it names none
  const std::string for_other = dir.write("other.json", R"([{"image": "a.jpg", "points": [[1, 2]]}])");
  message = error_of([&] { load_face(fixture("imm/19-1m.jpg"), for_other); });
  CHECK(contains(message, "other.json: its one entry is for 'a.jpg', not '"));
  CHECK(contains(message, "19-1m.jpg'"));
  const std::string unnamed = dir.write("unnamed.json", R"([{"points": [[1, 2]]}])");
  CHECK(load_face(fixture("imm/19-1m.jpg"), unnamed).points.size() == 1);
  const std::string two_unnamed = dir.write("two.json", R"([{"points": [[1, 2]]}, {"points": [[3, 4]]}])");
  CHECK(contains(error_of([&] { load_face(fixture("imm/19-1m.jpg"), two_unnamed); }), "two.json: 2 entries and none"));

  // points that are not a face scheme the eyes can be found in
  const std::string few = dir.write("few.json", R"([{"image": "19-1m.jpg", "points": [[1, 2], [3, 4]]}])");
  message = error_of([&] { align_face(load_face(fixture("imm/19-1m.jpg"), few), canvas); });
  CHECK(contains(message, "few.json"));
  CHECK(contains(message, "2 points"));
  // an image with no keypoints beside it
  std::filesystem::copy_file(fixture("imm/01-1m.jpg"), dir.file("alone.jpg"));
  CHECK(contains(error_of([&] { load_face(dir.file("alone.jpg")); }), "alone.jpg: no keypoints"));
  // an unwritable GIF
  message = error_of([&] { write_gif(dir.file("no/such/folder/x.gif"), {Image(4, 4, 3)}, {Rgb{0, 0, 0}}, 30); });
  CHECK(contains(message, "x.gif"));
}

TEST_CASE("landmarks a morph would garble are refused, naming the file, the points and the problem") {
  const TempDir dir("morph_points");
  const data::Canvas canvas = data::make_canvas(160, 120);
  // Each variant of a face's points goes through a JSON, as a user's edited file would.
  auto align_error = [&](const std::string& image, const std::string& name, const std::vector<Point>& points) {
    const Face face = load_face(image);
    write_points_json(dir.file(name), {{std::filesystem::path(image).filename().string(), face.image.width,
                                        face.image.height, "test", points}});
    return error_of([&] { align_face(load_face(image, dir.file(name)), canvas); });
  };
  const std::string imm_image = fixture("imm/19-1m.jpg");
  const std::vector<Point> imm = load_face(imm_image).points;
  CHECK(align_error(imm_image, "as_is.json", imm) == "<no error>");

  std::vector<Point> points = imm;
  points[40] = points[3];
  std::string message = align_error(imm_image, "duplicate.json", points);
  CHECK(contains(message, "duplicate.json: points 3 and 40 are both at"));

  points = imm;
  points[50] = {-400, 30};
  message = align_error(imm_image, "outside.json", points);
  CHECK(contains(message, "outside.json: point 50 (-400, 30) lies more than one image side outside"));
  CHECK(contains(message, "160x120"));

  // on one line, the eyes still apart: the eye alignment alone takes them
  for (size_t i = 0; i < points.size(); ++i) points[i] = {10.0 + 2.0 * i, 60.0 + 1e-3 * i};
  message = align_error(imm_image, "line.json", points);
  CHECK(contains(message, "line.json: the 58 points lie on (nearly) one line"));

  // iBUG's inner lips and eyelids meet when a mouth or an eye closes (about half of 300-W's files): a face
  const std::string ibug_image = fixture("ibug/afw/2805422179_4.jpg");
  std::vector<Point> ibug = load_face(ibug_image).points;
  REQUIRE(ibug.size() == 68);
  for (const auto& [upper, lower] : {std::pair{61, 67}, {62, 66}, {63, 65}, {37, 41}, {38, 40}, {43, 47}, {44, 46}})
    ibug[lower] = ibug[upper];
  CHECK(align_error(ibug_image, "closed.json", ibug) == "<no error>");
  ibug[10] = ibug[62];
  CHECK(contains(align_error(ibug_image, "chin_on_lip.json", ibug), "chin_on_lip.json: points 10 and 62 are both at"));
}

TEST_CASE("a canvas is bounded: a frame of floats must not take gigabytes") {
  CHECK(data::make_canvas(4096, 4096).width == 4096);
  const std::string message = error_of([] { data::make_canvas(8192, 6144); });
  CHECK(contains(message, "8192x6144"));
  CHECK(contains(message, "4096x4096"));
}

TEST_CASE("--points auto: the shipped 68-point model finds a photo's face; a blank image has none") {
  // A validation face of the shipped model: its photo was held out of training.
  const std::string photo = fixture("ibug/validation/2113106881_1.jpg");
  const Face face = load_face(photo, kAutomaticPoints);
  REQUIRE(face.points.size() == 68);
  CHECK(train::face_nme_percent(face.points, data::read_pts(fixture("ibug/validation/2113106881_1.pts"), 68)) < 8.0);

  TempDir dir("auto_points");
  Image blank(120, 100, 3);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 120; ++x)
      for (int c = 0; c < 3; ++c) blank.at(x, y, c) = 200;
  data::save_png(dir.file("blank.png"), blank);
  CHECK(contains(error_of([&] { load_face(dir.file("blank.png"), kAutomaticPoints); }), "blank.png: no face found"));
}

TEST_CASE("--points imm: the shipped 58-point model reads an IMM-framed photo; another aspect is refused") {
  // Person 36 is a validation person: the model never trained on this photo.
  const std::string photo = fixture("imm/36-1m.jpg");
  const Face face = load_face(photo, kImmModelPoints);
  const Face labelled = load_face(photo);  // the .asf beside it
  REQUIRE(face.points.size() == 58);
  REQUIRE(labelled.points.size() == 58);
  double distance = 0;
  for (size_t i = 0; i < 58; ++i)
    distance += std::hypot(face.points[i].x - labelled.points[i].x, face.points[i].y - labelled.points[i].y);
  MESSAGE("mean distance to the .asf: ", distance / 58, " px on the 160x120 fixture photo");
  CHECK(distance / 58 < 4.0);  // 16 px in IMM's 640x480: twice the validation mean

  TempDir dir("imm_points");
  data::save_png(dir.file("square.png"), Image(120, 120, 3));
  const std::string message = error_of([&] { load_face(dir.file("square.png"), kImmModelPoints); });
  CHECK(contains(message, "square.png: 120x120 is not framed as IMM's photos are"));
}
