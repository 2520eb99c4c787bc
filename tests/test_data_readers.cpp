// IMM .asf and iBUG .xml/.pts/crop-manifest readers: real files give the values read from them by
// hand, and each kind of malformed file is rejected with a message naming the file and line.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include <regex>

#include "data/ibug.h"
#include "data/imm.h"
#include "support/shared_data.h"
#include "test_data_support.h"

using namespace keynet::data;
using namespace keynet::data::testing;
using keynet::testing::shared_data_available;
using keynet::testing::shared_data_path;

namespace {

// `text` with the first match of `pattern` replaced.
std::string replace_first(const std::string& text, const std::string& pattern, const std::string& with) {
  const size_t at = text.find(pattern);
  REQUIRE(at != std::string::npos);
  return text.substr(0, at) + with + text.substr(at + pattern.size());
}

}  // namespace

TEST_CASE("IMM: 7-column file") {
  const ImmShape s = read_imm_asf(fixture("imm/01-1m.asf"));
  CHECK(s.columns == 7);
  CHECK(s.person == 1);
  CHECK(s.view == 1);
  CHECK(s.gender == 'm');
  REQUIRE(s.points.size() == 58);
  // First and nose-tip lines of 01-1m.asf: "0 4 0.35763609 0.64077979 0 0 1", "6 4 0.49070060 0.63137436 52 ..."
  CHECK(s.points[0].x == doctest::Approx(0.35763609 * 640));
  CHECK(s.points[0].y == doctest::Approx(0.64077979 * 480));
  CHECK(s.points[kImmNoseTip].x == doctest::Approx(0.49070060 * 640));
  CHECK(s.points[kImmNoseTip].y == doctest::Approx(0.63137436 * 480));
  CHECK(s.points[57].x == doctest::Approx(0.50682962 * 640));
  CHECK(s.paths[0] == 0);
  CHECK(s.paths[13] == 1);
  CHECK(s.paths[52] == 6);
  CHECK(contains(s.image_path, "imm/01-1m.jpg"));
  // The fixture images are 160x120 copies: the same relative coordinates scale to them.
  const ImmShape small = read_imm_asf(fixture("imm/01-1m.asf"), 160, 120);
  CHECK(small.points[0].x == doctest::Approx(0.35763609 * 160));
}

TEST_CASE("IMM: 10-column file") {
  const ImmShape s = read_imm_asf(fixture("imm/19-1m.asf"));
  CHECK(s.columns == 10);
  CHECK(s.person == 19);
  REQUIRE(s.points.size() == 58);
  // "0 4 0.33373404 0.67987376 0 0 1 0.00 0.00 0.00"
  CHECK(s.points[0].x == doctest::Approx(0.33373404 * 640));
  CHECK(s.points[0].y == doctest::Approx(0.67987376 * 480));
}

TEST_CASE("IMM splits: no person on both sides, each of persons 1-32 validates in exactly one fold, 33-40 only in final") {
  std::map<int, int> folds_validating;
  for (const std::string& split : kImmSplits)
    for (int person = 1; person <= kImmPersons; ++person) {
      const int side = imm_split_side(split, person);
      INFO(split, " person ", person);
      CHECK((side == 1 || side == -1 || side == 0));
      if (person > kImmLastTrainPerson) CHECK(side == (split == "final" ? -1 : 0));
      if (split.rfind("fold", 0) == 0 && side < 0) ++folds_validating[person];
    }
  for (int person = 1; person <= kImmLastTrainPerson; ++person) CHECK(folds_validating[person] == 1);
  CHECK(imm_split_side("fold2", 9) == -1);
  CHECK(imm_split_side("fold2", 16) == -1);
  CHECK(imm_split_side("fold2", 17) == 1);
  CHECK(imm_split_side("dev", 28) == 1);
  CHECK(imm_split_side("dev", 29) == -1);
  CHECK(imm_split_side("final", 32) == 1);
  CHECK(contains(error_of([] { imm_split_side("fold5", 1); }), "unknown IMM split 'fold5'"));
}

TEST_CASE("iBUG: the validation split takes whole photos, so no photo's faces are on both sides") {
  CHECK(source_photo("/data/ibug_300w/afw/1051618982_2.jpg") == "afw/1051618982");
  CHECK(source_photo("helen/trainset/100032540_1.jpg") == "trainset/100032540");
  std::vector<LandmarkRecord> records;
  for (int photo = 0; photo < 40; ++photo)
    for (int face = 1; face <= 1 + photo % 4; ++face)
      records.push_back({"afw/" + std::to_string(1000 + photo) + "_" + std::to_string(face) + ".jpg", {}, {}, ""});
  const PhotoSplit split = split_by_photo(records, 0.1, 0);
  std::set<std::string> train_photos, validation_photos;
  for (const LandmarkRecord& r : split.train) train_photos.insert(source_photo(r.image_path));
  for (const LandmarkRecord& r : split.validation) validation_photos.insert(source_photo(r.image_path));
  for (const std::string& photo : validation_photos) CHECK_MESSAGE(!train_photos.count(photo), photo, " is on both sides");
  CHECK(split.train.size() + split.validation.size() == records.size());
  CHECK(split.validation.size() >= records.size() / 10);
  CHECK(split.validation.size() < records.size() / 10 + 4);  // at most one photo's faces past the tenth
  CHECK(split_by_photo(records, 0.1, 0).validation.size() == split.validation.size());
  std::set<std::string> other_seed;
  for (const LandmarkRecord& r : split_by_photo(records, 0.1, 1).validation) other_seed.insert(source_photo(r.image_path));
  CHECK(other_seed != validation_photos);
}

TEST_CASE("IMM: directory reader and person split") {
  const std::vector<ImmShape> shapes = read_imm_dir(fixture("imm"));
  REQUIRE(shapes.size() == 3);
  const ImmSplit split = split_imm(shapes);
  REQUIRE(split.train.size() == 2);
  REQUIRE(split.validation.size() == 1);
  CHECK(split.validation[0].person == 36);
  for (const ImmShape& s : split.train) CHECK(s.person <= 32);

  if (!shared_data_available("imm_face_db")) return;
  const std::vector<ImmShape> all = read_imm_dir(shared_data_path("imm_face_db"));
  CHECK(all.size() == 240);
  int ten_columns = 0;
  for (const ImmShape& s : all) ten_columns += s.columns == 10;
  CHECK(ten_columns == 41);
  const ImmSplit full = split_imm(all);
  CHECK(full.train.size() == 192);
  CHECK(full.validation.size() == 48);
  for (const ImmShape& s : full.validation) CHECK(s.person >= 33);
}

TEST_CASE("IMM: malformed files") {
  TempDir dir("imm_bad");
  const std::string good = read_text(fixture("imm/01-1m.asf"));
  const std::string line_0 = "0 \t4 \t0.35763609 \t0.64077979 \t0 \t0 \t1";  // line 17 of the file
  REQUIRE(contains(good, line_0));
  struct Case {
    std::string name, text, message;
  };
  const std::vector<Case> cases = {
      {"wrong_count", replace_first(good, "\n58\n", "\n57\n"), "01-1m.asf:10: expected 58 points, the file declares 57"},
      {"non_numeric", replace_first(good, "0.35763609", "0.3576x609"), "01-1m.asf:17: x rel. is not a number: '0.3576x609'"},
      {"columns", replace_first(good, line_0, "0 \t4 \t0.35763609 \t0.64077979 \t0"), "01-1m.asf:17: point line has 5 columns"},
      {"out_of_range", replace_first(good, "0.64077979", "1.64077979"), "01-1m.asf:17: relative coordinates must lie in [0, 1]"},
      {"order", replace_first(good, "\t0.64077979 \t0 \t", "\t0.64077979 \t3 \t"), "01-1m.asf:17: point# is 3, expected 0"},
      {"truncated", good.substr(0, good.find("0 \t4 \t0.39896673")), "01-1m.asf: file ends after 3 of 58 points"},
      {"no_host", good.substr(0, good.find("#\n# host image")), "01-1m.asf: missing host image name"},
      {"empty", "", "01-1m.asf: no point count"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::filesystem::create_directories(dir.file(c.name));
    const std::string path = dir.write(c.name + "/01-1m.asf", c.text);
    const std::string message = error_of([&] { read_imm_asf(path); });
    CAPTURE(message);
    CHECK(contains(message, c.message));
    CHECK(contains(message, c.name + "/01-1m.asf"));
  }
  CHECK(contains(error_of([&] { read_imm_asf(dir.write("person.asf", good)); }), "not of the IMM form PP-Vg.asf"));
  CHECK(contains(error_of([&] { read_imm_asf(dir.file("99-1m.asf")); }), "cannot open IMM shape file"));

  // A directory with one bad file: an error by default, skipped and reported on request.
  std::filesystem::create_directories(dir.file("mixed"));
  dir.write("mixed/01-1m.asf", good);
  dir.write("mixed/02-1m.asf", replace_first(good, "0.35763609", "abc"));
  CHECK(contains(error_of([&] { read_imm_dir(dir.file("mixed")); }), "02-1m.asf:17"));
  std::vector<SkippedItem> skipped;
  const std::vector<ImmShape> kept = read_imm_dir(dir.file("mixed"), &skipped);
  CHECK(kept.size() == 1);
  REQUIRE(skipped.size() == 1);
  CHECK(contains(skipped[0].what, "02-1m.asf"));
  CHECK(contains(skipped[0].reason, "x rel. is not a number"));
}

TEST_CASE("iBUG: dlib XML") {
  const std::vector<LandmarkRecord> records = read_dlib_xml(fixture("ibug/labels_fixture.xml"), kIbugPoints);
  REQUIRE(records.size() == 2);
  const LandmarkRecord& r = records[0];
  CHECK(contains(r.image_path, "ibug/afw/2805422179_4.jpg"));
  CHECK(contains(r.label_source, "labels_fixture.xml:8"));
  REQUIRE(r.box.has_value());
  CHECK(r.box->top == 38);
  CHECK(r.box->left == 33);
  CHECK(r.box->width == 81);
  CHECK(r.box->height == 73);
  REQUIRE(r.points.size() == 68);
  CHECK(r.points[0].x == 40);
  CHECK(r.points[0].y == 60);
  CHECK(r.points[1].x == 41);
  CHECK(r.points[1].y == 67);
  CHECK(r.points[67].x == 81);
  CHECK(r.points[67].y == 84);
  CHECK(records[1].points[0].x == 49);
  CHECK(records[1].points[0].y == 75);
}

TEST_CASE("iBUG: .pts is 1-based and agrees with the XML") {
  const std::vector<Point> pts = read_pts(fixture("ibug/afw/2805422179_4.pts"), kIbugPoints);
  REQUIRE(pts.size() == 68);
  // First line "40.710858 60.802576", last "81.865025 85.074992".
  CHECK(pts[0].x == doctest::Approx(39.710858));
  CHECK(pts[0].y == doctest::Approx(59.802576));
  CHECK(pts[67].x == doctest::Approx(80.865025));
  CHECK(pts[67].y == doctest::Approx(84.074992));
  const std::vector<LandmarkRecord> xml = read_dlib_xml(fixture("ibug/labels_fixture.xml"));
  for (size_t i = 0; i < pts.size(); ++i) {  // XML = round(pts - 1)
    CHECK(std::abs(xml[0].points[i].x - pts[i].x) <= 0.5);
    CHECK(std::abs(xml[0].points[i].y - pts[i].y) <= 0.5);
  }
  const LandmarkRecord record = read_pts_record(fixture("ibug/afw/2805422179_4.pts"));
  CHECK(contains(record.image_path, "2805422179_4.jpg"));
  REQUIRE(record.box.has_value());
  // The XML box is this box, rounded.
  CHECK(std::abs(record.box->left - 33) <= 0.5);
  CHECK(std::abs(record.box->top - 38) <= 0.5);
  CHECK(std::abs(record.box->width - 81) <= 1.0);
  CHECK(std::abs(record.box->height - 73) <= 1.0);
}

TEST_CASE("iBUG: crop manifest maps back to the original photo") {
  const auto manifest = read_crop_manifest(fixture("ibug/crop_manifest.csv"));
  REQUIRE(manifest.size() == 3);
  const CropManifestEntry& e = manifest.at("afw/2805422179_4.jpg");
  CHECK(e.orig_w == 1024);
  CHECK(e.crop_left == 747);
  CHECK(e.crop_top == 55);
  const Point p = crop_to_original(e).apply({10, 20});
  CHECK(p.x == doctest::Approx(757));
  CHECK(p.y == doctest::Approx(75));
  // A downscaled row: "afw/174692320_1.jpg,2191,1701,1032,0,729,725,565,561,0.775034294,0.773793103"
  const CropManifestEntry& d = manifest.at("afw/174692320_1.jpg");
  const Point q = crop_to_original(d).apply({-0.5, -0.5});  // the stored image's corner is the crop's corner
  CHECK(q.x == doctest::Approx(1032 - 0.5));
  CHECK(q.y == doctest::Approx(-0.5));
  const Point r = crop_to_original(d).apply({564.5, 560.5});
  CHECK(r.x == doctest::Approx(1032 + 729 - 0.5).epsilon(1e-6));
  CHECK(r.y == doctest::Approx(725 - 0.5).epsilon(1e-6));
}

TEST_CASE("iBUG: malformed XML and .pts") {
  TempDir dir("ibug_bad");
  const std::string xml = read_text(fixture("ibug/labels_fixture.xml"));
  struct Case {
    std::string name, text, message;
  };
  const std::vector<Case> xml_cases = {
      {"missing_y", replace_first(xml, "<part name='01' x='41' y='67'/>", "<part name='01' x='41'/>"),
       "missing_y.xml:10: <part> is missing attribute 'y'"},
      {"non_numeric", replace_first(xml, "x='41' y='67'", "x='4l' y='67'"), "non_numeric.xml:10: x is not a number: '4l'"},
      {"missing_file", replace_first(xml, "<image file='afw/2805422179_4.jpg'>", "<image>"),
       "missing_file.xml:7: <image> is missing attribute 'file'"},
      {"box_attribute", replace_first(xml, " width='81'", ""), "box_attribute.xml:8: <box> is missing attribute 'width'"},
      {"part_missing", replace_first(xml, "<part name='01' x='41' y='67'/>", ""), "part_missing.xml:8: parts of afw/2805422179_4.jpg"},
      {"part_name", replace_first(xml, "name='01'", "name='one'"), "part_name.xml:10: part name is not an integer: 'one'"},
      {"not_xml", replace_first(xml, "</box>", "</bx>"), "not_xml.xml:"},
      {"no_images", "<dataset></dataset>", "no_images.xml: no <dataset><images> element"},
  };
  for (const Case& c : xml_cases) {
    CAPTURE(c.name);
    const std::string message = error_of([&] { read_dlib_xml(dir.write(c.name + ".xml", c.text), kIbugPoints); });
    CAPTURE(message);
    CHECK(contains(message, c.message));
  }
  // Wrong part count for the caller's expectation; any count is fine without one.
  const std::string short_xml = dir.write("short.xml", replace_first(xml, "<part name='67' x='81' y='84'/>", ""));
  CHECK(contains(error_of([&] { read_dlib_xml(short_xml, kIbugPoints); }), "short.xml:8: afw/2805422179_4.jpg has 67 parts, expected 68"));
  CHECK(read_dlib_xml(short_xml)[0].points.size() == 67);
  CHECK(contains(error_of([&] { read_dlib_xml(dir.file("absent.xml")); }), "cannot open landmark XML file"));

  const std::string pts = read_text(fixture("ibug/afw/2805422179_4.pts"));
  const std::vector<Case> pts_cases = {
      {"count", replace_first(pts, "n_points:  68", "n_points:  69"), "count.pts: n_points says 69 but the file lists 68"},
      {"non_numeric", replace_first(pts, "40.710858", "forty"), "non_numeric.pts:4: x is not a number: 'forty'"},
      {"fields", replace_first(pts, "40.710858 60.802576", "40.710858"), "fields.pts:4: expected 'x y'"},
      {"unclosed", pts.substr(0, pts.find('}')), "unclosed.pts: file ends after 68 points without the closing '}'"},
      {"no_header", pts.substr(pts.find('{')), "no_header.pts: no 'n_points:' line"},
      {"header", replace_first(pts, "version: 1", "versoin: 1"), "header.pts:1: unexpected header line"},
  };
  for (const Case& c : pts_cases) {
    CAPTURE(c.name);
    const std::string message = error_of([&] { read_pts(dir.write(c.name + ".pts", c.text)); });
    CAPTURE(message);
    CHECK(contains(message, c.message));
  }
  // Found by fuzzing (fuzz/crashes/pts/): a line of only a vertical tab read as a field that is not there.
  CHECK(contains(error_of([&] { read_pts(dir.write("tab.pts", "\v\n\n")); }), "tab.pts: file ends before the '{'"));
  const std::string lonely = dir.write("lonely.pts", pts);
  CHECK(contains(error_of([&] { read_pts_record(lonely); }), "no image (.jpg/.png/.jpeg) with the same name"));
  CHECK(contains(error_of([&] { read_pts(lonely, 5); }), "has 68 points, expected 5"));
}

TEST_CASE("iBUG: full training XML (shared data)") {
  if (!shared_data_available("ibug_300w/labels_ibug_300W_train.xml")) return;
  const std::vector<LandmarkRecord> records =
      read_dlib_xml(shared_data_path("ibug_300w/labels_ibug_300W_train.xml"), kIbugPoints);
  CHECK(records.size() == 1207);
  if (!shared_data_available("ibug_300w/crop_manifest.csv")) return;
  const auto manifest = read_crop_manifest(shared_data_path("ibug_300w/crop_manifest.csv"));
  CHECK(manifest.size() == 1537);
}
