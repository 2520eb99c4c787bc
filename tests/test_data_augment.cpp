// Face crops, augmentation and mirroring: points and pixels move together, every transform inverts
// back to the original file's pixels, and mirroring relabels left and right correctly.
#include <doctest/doctest.h>

#include <cmath>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/ibug.h"
#include "data/imm.h"
#include "support/shared_data.h"
#include "test_data_support.h"

using namespace keynet::data;
using namespace keynet::data::testing;
using keynet::testing::shared_data_available;
using keynet::testing::shared_data_path;

namespace {

Point centroid(const std::vector<Point>& points, int first, int last) {
  Point c;
  for (int i = first; i <= last; ++i) c.x += points[i].x, c.y += points[i].y;
  const double n = last - first + 1;
  return {c.x / n, c.y / n};
}

AugmentOptions mirror_only() {
  AugmentOptions o;
  o.max_rotation_deg = 0, o.max_shift_px = 0, o.min_scale = o.max_scale = 1, o.box_jitter = 0;
  o.max_brightness = 0, o.min_contrast = o.max_contrast = 1, o.mirror_probability = 1;
  return o;
}

// A gray image with a Gaussian dot (sigma 2 px) at each point, on a dark background. Bilinear
// interpolation peaks on source pixel centres, so dots meant for a brightest-pixel check sit on them
// (sub-pixel dots are checked by their centroid in test_data_image.cpp).
Image dots_image(int w, int h, const std::vector<Point>& dots) {
  Image image(w, h, 1, 10.0f);
  for (const Point& d : dots)
    for (int y = std::max(0, int(d.y) - 9); y < std::min(h, int(d.y) + 10); ++y)
      for (int x = std::max(0, int(d.x) - 9); x < std::min(w, int(d.x) + 10); ++x)
        image.at(x, y) += float(200.0 * std::exp(-((x - d.x) * (x - d.x) + (y - d.y) * (y - d.y)) / (2 * 2.0 * 2.0)));
  return image;
}

Point brightest_near(const Image& image, const Point& near, int radius) {
  Point best_at{-1, -1};
  float best = -1;
  for (int y = int(std::lround(near.y)) - radius; y <= int(std::lround(near.y)) + radius; ++y)
    for (int x = int(std::lround(near.x)) - radius; x <= int(std::lround(near.x)) + radius; ++x)
      if (x >= 0 && y >= 0 && x < image.width && y < image.height && image.at(x, y) > best)
        best = image.at(x, y), best_at = {double(x), double(y)};
  return best_at;
}

// Intensity-weighted centre of the 17x17 window around `near`, above the window's minimum.
Point centroid_near(const Image& image, const Point& near) {
  const int cx = int(std::lround(near.x)), cy = int(std::lround(near.y));
  float floor_value = image.at(cx, cy);
  for (int y = cy - 8; y <= cy + 8; ++y)
    for (int x = cx - 8; x <= cx + 8; ++x) floor_value = std::min(floor_value, image.at(x, y));
  double sum = 0, sx = 0, sy = 0;
  for (int y = cy - 8; y <= cy + 8; ++y)
    for (int x = cx - 8; x <= cx + 8; ++x) {
      const double v = image.at(x, y) - floor_value;
      sum += v, sx += v * x, sy += v * y;
    }
  return {sx / sum, sy / sum};
}

// A point that falls half-way between two pixels leaves them equally bright up to interpolation
// ripple, so the brightest-pixel check allows 0.05 px beyond the half pixel; the centroid check is tight.
void check_dot_at(const Image& image, const Point& expected) {
  CAPTURE(expected.x);
  CAPTURE(expected.y);
  const Point peak = brightest_near(image, expected, 4);
  CHECK(std::abs(peak.x - expected.x) <= 0.55);
  CHECK(std::abs(peak.y - expected.y) <= 0.55);
  const Point c = centroid_near(image, expected);
  CHECK(std::hypot(c.x - expected.x, c.y - expected.y) < 0.1);
}

// For each original point i, the label j whose mirrored position (after centring both shapes) is
// nearest on average over `shapes`: the data's own answer to "which point is i's mirror image?".
std::vector<int> nearest_mirror_labels(const std::vector<std::vector<Point>>& shapes, int width) {
  const size_t k = shapes[0].size();
  std::vector<double> cost(k * k, 0.0);
  for (const auto& shape : shapes) {
    std::vector<Point> mirrored = Affine::mirror_x(width).apply(shape);
    const Point c = centroid(shape, 0, int(k) - 1), cm = centroid(mirrored, 0, int(k) - 1);
    for (size_t i = 0; i < k; ++i)
      for (size_t j = 0; j < k; ++j)
        cost[i * k + j] += std::hypot((mirrored[j].x - cm.x) - (shape[i].x - c.x), (mirrored[j].y - cm.y) - (shape[i].y - c.y));
  }
  std::vector<int> best(k);
  for (size_t i = 0; i < k; ++i)
    best[i] = int(std::min_element(cost.begin() + i * k, cost.begin() + (i + 1) * k) - (cost.begin() + i * k));
  return best;
}

}  // namespace

TEST_CASE("face crop: the inverse maps points back exactly, also for boxes that leave the image") {
  keynet::Rng rng(5);
  const Image image(150, 120, 1, 50.0f);
  const std::vector<FaceBox> boxes = {{30, 20, 60, 70}, {-40, -30, 80, 90}, {100, 90, 120, 60}, {-10, 50, 200, 200}};
  for (const FaceBox& box : boxes) {
    const Crop crop = crop_face(image, box, 224, 224, 1.3, {BorderMode::Constant, 0.0f});
    CHECK(crop.image.width == 224);
    const Affine back = crop.transform.inverse();
    for (int k = 0; k < 20; ++k) {
      const Point p{rng.uniform(-200, 300), rng.uniform(-200, 300)};
      const Point q = back.apply(crop.transform.apply(p));
      CHECK(std::abs(q.x - p.x) < 1e-9);
      CHECK(std::abs(q.y - p.y) < 1e-9);
    }
    // The enlarged square's corners are the crop's outer pixel edges.
    const double side = std::max(box.width, box.height) * 1.3;
    const Point corner = crop.transform.apply({box.left + box.width / 2 - side / 2, box.top + box.height / 2 - side / 2});
    CHECK(corner.x == doctest::Approx(-0.5));
    CHECK(corner.y == doctest::Approx(-0.5));
  }
  // Pixels that fall outside the source show the constant border; inside, the source.
  const Crop off = crop_face(image, {-60, -60, 80, 80}, 64, 64, 1.0, {BorderMode::Constant, 0.0f});
  CHECK(off.image.at(2, 2) == 0.0f);
  CHECK(off.image.at(60, 60) == doctest::Approx(50.0f));
}

TEST_CASE("face crop: a dot in the image lands on the cropped point") {
  const std::vector<Point> dots = {{40, 51}, {70, 48}, {55, 80}};
  const Image image = dots_image(120, 120, dots);
  for (const FaceBox& box : {FaceBox{30, 35, 50, 55}, FaceBox{-20, 10, 90, 90}}) {
    const Crop crop = crop_face(image, box, 96, 96, 1.2);
    for (const Point& d : dots) {
      check_dot_at(crop.image, crop.transform.apply(d));
    }
  }
}

TEST_CASE("augmentation: the inverse transform returns the original points (real records)") {
  const std::vector<int> imm_perm = imm_mirror_permutation();
  const std::vector<int> ibug_perm = read_mirror_permutation(fixture("ibug/mirror_permutation_68.txt"), kIbugPoints);
  SampleOptions imm;
  imm.framing = Framing::WholeImage, imm.width = 160, imm.height = 120, imm.mirror_permutation = imm_perm;
  SampleOptions ibug;
  ibug.mirror_permutation = ibug_perm;
  LandmarkRecord imm_record = to_record(read_imm_asf(fixture("imm/01-1m.asf"), 160, 120));
  LandmarkRecord ibug_record = read_dlib_xml(fixture("ibug/labels_fixture.xml"), kIbugPoints)[1];
  int mirrored = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    for (const auto& [record, options] : {std::pair{&imm_record, &imm}, std::pair{&ibug_record, &ibug}}) {
      keynet::Rng rng(seed);
      const Sample s = make_sample(*record, *options, &rng);
      mirrored += !s.label_permutation.empty();
      const std::vector<Point> back = s.to_original(s.points);
      double worst = 0;
      for (size_t i = 0; i < back.size(); ++i)
        worst = std::max({worst, std::abs(back[i].x - record->points[i].x), std::abs(back[i].y - record->points[i].y)});
      CHECK(worst < 1e-4);
    }
  }
  CHECK(mirrored > 0);   // both branches were exercised
  CHECK(mirrored < 24);
}

TEST_CASE("augmentation: bright dots end up under the augmented points, mirrored or not") {
  const std::vector<Point> dots = {{50, 60}, {111, 59}, {80, 100}, {61, 131}, {100, 131}};
  const std::vector<int> perm = {1, 0, 2, 4, 3};  // a tiny left/right labelling
  const Image image = dots_image(160, 180, dots);
  LandmarkRecord record{"dots.png", dots, box_around_points(dots, 0.3), "dots"};
  SampleOptions options;
  options.width = options.height = 128;
  options.mirror_permutation = perm;
  options.border = {BorderMode::Constant, 10.0f};
  int mirrored = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    keynet::Rng rng(seed);
    const Sample s = make_sample(record, image, options, &rng);
    mirrored += !s.label_permutation.empty();
    CAPTURE(seed);
    for (const Point& p : s.points) check_dot_at(s.image, p);
  }
  CHECK(mirrored > 0);
}

TEST_CASE("augmentation: mirroring on but no mirror permutation never mirrors (labels would swap sides)") {
  const std::vector<Point> dots = {{50, 60}, {111, 59}, {80, 100}, {61, 131}, {100, 131}};
  const Image image = dots_image(160, 180, dots);
  LandmarkRecord record{"dots.png", dots, box_around_points(dots, 0.3), "dots"};
  SampleOptions options;
  options.width = options.height = 128;
  options.border = {BorderMode::Constant, 10.0f};
  options.augment = {.max_rotation_deg = 0, .max_shift_px = 0, .min_scale = 1, .max_scale = 1, .box_jitter = 0,
                     .max_brightness = 0, .min_contrast = 1, .max_contrast = 1, .mirror_probability = 1.0};
  const Sample plain = make_sample(record, image, options, nullptr);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    CAPTURE(seed);
    keynet::Rng rng(seed);
    const Sample s = make_sample(record, image, options, &rng);
    CHECK(s.label_permutation.empty());
    REQUIRE(s.points.size() == plain.points.size());
    for (size_t i = 0; i < s.points.size(); ++i) {
      CHECK(s.points[i].x == doctest::Approx(plain.points[i].x));
      CHECK(s.points[i].y == doctest::Approx(plain.points[i].y));
    }
  }
  // The same options with a permutation mirror every sample (probability 1), so the check above can fail.
  options.mirror_permutation = {1, 0, 2, 4, 3};
  keynet::Rng rng(0);
  CHECK(!make_sample(record, image, options, &rng).label_permutation.empty());
}

TEST_CASE("mirror permutations: files, twice is identity") {
  const std::vector<int> imm = imm_mirror_permutation();
  const std::vector<int> ibug = read_mirror_permutation(fixture("ibug/mirror_permutation_68.txt"), kIbugPoints);
  keynet::Rng rng(1);
  for (const auto* perm : {&imm, &ibug}) {
    std::vector<Point> points(perm->size());
    for (Point& p : points) p = {rng.uniform(0, 200), rng.uniform(0, 200)};
    const std::vector<Point> twice = mirror_points(mirror_points(points, 201, *perm), 201, *perm);
    for (size_t i = 0; i < points.size(); ++i) {
      CHECK(twice[i].x == doctest::Approx(points[i].x));
      CHECK(twice[i].y == doctest::Approx(points[i].y));
    }
  }
  TempDir dir("perm");
  CHECK(contains(error_of([&] { read_mirror_permutation(dir.write("a.txt", "# c\n1 2 0\n")); }), "not its own inverse"));
  CHECK(contains(error_of([&] { read_mirror_permutation(dir.write("b.txt", "1 0 5\n")); }), "outside 0..2"));
  CHECK(contains(error_of([&] { read_mirror_permutation(dir.write("c.txt", "1 0\n"), 58); }), "expected 58 permutation entries"));
  CHECK(contains(error_of([&] { read_mirror_permutation(dir.write("d.txt", "1 x\n")); }), "d.txt:1: permutation entry is not an integer"));
}

TEST_CASE("mirroring a real face keeps eye labels on their side") {
  // IMM: path 1 (points 13-20) is the eye on the image's right, path 2 (21-28) the one on the left.
  const std::vector<int> imm_perm = imm_mirror_permutation();
  const LandmarkRecord imm = to_record(read_imm_asf(fixture("imm/01-1m.asf"), 160, 120));
  REQUIRE(centroid(imm.points, 13, 20).x > centroid(imm.points, 21, 28).x);
  SampleOptions options;
  options.framing = Framing::WholeImage, options.width = 160, options.height = 120;
  options.augment = mirror_only();
  options.mirror_permutation = imm_perm;
  keynet::Rng rng(0);
  const Sample m = make_sample(imm, options, &rng);
  REQUIRE(!m.label_permutation.empty());
  const Point right_eye = centroid(m.points, 13, 20), left_eye = centroid(m.points, 21, 28);
  CHECK(right_eye.x > left_eye.x);
  // ... and the image-right eye of the mirrored face is the original image-left eye, flipped.
  const Point flipped_left = Affine::mirror_x(160).apply(centroid(imm.points, 21, 28));
  CHECK(right_eye.x == doctest::Approx(flipped_left.x));
  CHECK(right_eye.y == doctest::Approx(flipped_left.y));
  // Pixels: the mirrored sample is the plain sample flipped.
  const Sample plain = make_sample(imm, options);
  for (int y = 0; y < 120; y += 7)
    for (int x = 0; x < 160; x += 7) REQUIRE(m.image.at(159 - x, y) == doctest::Approx(plain.image.at(x, y)).epsilon(1e-4));

  // iBUG: 36-41 is the eye on the image's left, 42-47 on the right; nose tip 30 stays in the middle.
  const std::vector<int> ibug_perm = read_mirror_permutation(fixture("ibug/mirror_permutation_68.txt"), kIbugPoints);
  for (const LandmarkRecord& face : read_dlib_xml(fixture("ibug/labels_fixture.xml"), kIbugPoints)) {
    REQUIRE(centroid(face.points, 36, 41).x < centroid(face.points, 42, 47).x);
    SampleOptions ibug;
    ibug.augment = mirror_only();
    ibug.mirror_permutation = ibug_perm;
    keynet::Rng r(0);
    const Sample s = make_sample(face, ibug, &r);
    CHECK(centroid(s.points, 36, 41).x < centroid(s.points, 42, 47).x);
    CHECK(centroid(s.points, 36, 41).x < s.points[30].x);
    CHECK(s.points[0].x < s.points[16].x);  // jaw starts on the image's left
    CHECK(s.points[48].x < s.points[54].x);  // mouth corners
  }
}

TEST_CASE("IMM mirror permutation agrees with the data (shared data)") {
  if (!shared_data_available("imm_face_db")) return;
  std::vector<std::vector<Point>> frontal;
  for (const ImmShape& s : read_imm_dir(shared_data_path("imm_face_db")))
    if (s.view == 1 || s.view == 2 || s.view == 5 || s.view == 6) frontal.push_back(s.points);
  REQUIRE(frontal.size() == 160);
  CHECK(nearest_mirror_labels(frontal, kImmWidth) == imm_mirror_permutation());
}

TEST_CASE("iBUG mirror permutation agrees with the data (shared data)") {
  if (!shared_data_available("ibug_300w/labels_ibug_300W_train.xml")) return;
  const std::string xml = shared_data_path("ibug_300w/labels_ibug_300W_train.xml");
  std::vector<std::vector<Point>> shapes;
  // In-the-wild faces turn; keep the near-frontal ones (nose tip 30 within 5% of the outer eye
  // corners' distance from their midpoint), where a face and its mirror image line up.
  for (const LandmarkRecord& r : read_dlib_xml(xml, kIbugPoints)) {
    const Point& a = r.points[36];
    const Point& b = r.points[45];
    if (std::abs(r.points[30].x - 0.5 * (a.x + b.x)) < 0.05 * std::hypot(b.x - a.x, b.y - a.y)) shapes.push_back(r.points);
  }
  MESSAGE(shapes.size() << " near-frontal faces");
  REQUIRE(shapes.size() > 50);
  // Widths differ per image, but centring removes the mirror's offset, so any width works.
  CHECK(nearest_mirror_labels(shapes, 0) == read_mirror_permutation(fixture("ibug/mirror_permutation_68.txt"), kIbugPoints));
}

TEST_CASE("the mirror permutations compiled into the library are their files' (no file is read at run time)") {
  CHECK(ibug_mirror_permutation() == read_mirror_permutation(fixture("ibug/mirror_permutation_68.txt"), kIbugPoints));
  const std::string source = std::string(KEYNET_SOURCE_DIR) + "/data/";
  CHECK(ibug_mirror_permutation() == read_mirror_permutation(source + "ibug_mirror_permutation_68.txt", kIbugPoints));
  CHECK(imm_mirror_permutation() == read_mirror_permutation(source + "imm_mirror_permutation_58.txt", kImmPoints));
  // The text parser names where the text came from, as the file reader names the file.
  CHECK_THROWS_WITH_AS(parse_mirror_permutation("1 0 2 3", "built-in text", 3), doctest::Contains("built-in text"),
                       keynet::Error);
}
