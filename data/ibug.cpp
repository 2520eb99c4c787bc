#include "data/ibug.h"

#include <pugixml.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>

#include "tensor/error.h"
#include "tensor/rng.h"

namespace fs = std::filesystem;

namespace keynet::embedded {
extern const char ibug_mirror_permutation_68[];  // cmake/embed_text.cmake
}

namespace keynet::data {

namespace {

// Maps a character offset in the XML text to its 1-based line number.
class LineIndex {
 public:
  explicit LineIndex(const std::string& text) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') line_starts_.push_back(static_cast<ptrdiff_t>(i + 1));
  }
  int line_of(ptrdiff_t offset) const {
    return static_cast<int>(std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - line_starts_.begin());
  }

 private:
  std::vector<ptrdiff_t> line_starts_;
};

double numeric_attribute(const pugi::xml_node& node, const char* name, const std::string& where) {
  const pugi::xml_attribute attribute = node.attribute(name);
  KEYNET_CHECK(attribute, where, ": <", node.name(), "> is missing attribute '", name, "'");
  return parse_double(attribute.value(), where, name);
}

}  // namespace

std::vector<LandmarkRecord> read_dlib_xml(const std::string& path, int expected_parts) {
  std::ifstream in(path, std::ios::binary);
  KEYNET_CHECK(in.good(), "cannot open landmark XML file '", path, "'");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const LineIndex lines(text);
  auto where = [&](const pugi::xml_node& node) { return path + ":" + std::to_string(lines.line_of(node.offset_debug())); };

  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer(text.data(), text.size());
  KEYNET_CHECK(parsed, path, ":", lines.line_of(parsed.offset), ": XML parse error: ", parsed.description());
  const pugi::xml_node images = doc.child("dataset").child("images");
  KEYNET_CHECK(images, path, ": no <dataset><images> element (not a dlib imglab XML file)");

  const fs::path folder = fs::path(path).parent_path();
  std::vector<LandmarkRecord> records;
  for (const pugi::xml_node image : images.children("image")) {
    const pugi::xml_attribute file = image.attribute("file");
    KEYNET_CHECK(file && file.value()[0] != '\0', where(image), ": <image> is missing attribute 'file'");
    const std::string image_path = (folder / file.value()).string();
    for (const pugi::xml_node box : image.children("box")) {
      const std::string box_where = where(box);
      LandmarkRecord record;
      record.image_path = image_path;
      record.label_source = box_where;
      record.box = FaceBox{numeric_attribute(box, "left", box_where), numeric_attribute(box, "top", box_where),
                           numeric_attribute(box, "width", box_where), numeric_attribute(box, "height", box_where)};
      KEYNET_CHECK(record.box->width > 0 && record.box->height > 0, box_where, ": box of ", file.value(),
                   " has non-positive size ", record.box->width, "x", record.box->height);
      std::vector<std::pair<int, Point>> parts;
      for (const pugi::xml_node part : box.children("part")) {
        const std::string part_where = where(part);
        const pugi::xml_attribute name = part.attribute("name");
        KEYNET_CHECK(name, part_where, ": <part> is missing attribute 'name'");
        const int index = parse_int(name.value(), part_where, "part name");
        parts.push_back({index, Point{numeric_attribute(part, "x", part_where), numeric_attribute(part, "y", part_where)}});
      }
      std::sort(parts.begin(), parts.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
      for (size_t i = 0; i < parts.size(); ++i) {
        KEYNET_CHECK(parts[i].first == static_cast<int>(i), box_where, ": parts of ", file.value(),
                     " must be named 0..", parts.size() - 1, " once each; ",
                     parts[i].first < static_cast<int>(i) ? "duplicate " : "missing ", "part ", i);
        record.points.push_back(parts[i].second);
      }
      KEYNET_CHECK(expected_parts < 0 || static_cast<int>(parts.size()) == expected_parts, box_where, ": ",
                   file.value(), " has ", parts.size(), " parts, expected ", expected_parts);
      records.push_back(std::move(record));
    }
  }
  return records;
}

std::vector<Point> read_pts(const std::string& path, int expected_points) {
  std::ifstream in(path);
  KEYNET_CHECK(in.good(), "cannot open .pts file '", path, "'");
  std::string line;
  int line_no = 0;
  auto where = [&]() { return path + ":" + std::to_string(line_no); };
  auto next_line = [&]() -> bool {
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r\n\v\f") != std::string::npos) return true;  // split_whitespace's set
    }
    return false;
  };
  int declared = -1;
  while (true) {  // header: "version: 1", "n_points: N", then "{"
    KEYNET_CHECK(next_line(), path, ": file ends before the '{' that opens the points");
    const std::vector<std::string> fields = split_whitespace(line);
    if (fields[0] == "{") break;
    if (fields[0] == "n_points:") {
      KEYNET_CHECK(fields.size() == 2, where(), ": expected 'n_points: N', got '", line, "'");
      declared = parse_int(fields[1], where(), "n_points");
    } else {
      KEYNET_CHECK(fields[0] == "version:", where(), ": unexpected header line '", line, "'");
    }
  }
  KEYNET_CHECK(declared >= 0, path, ": no 'n_points:' line in the header");
  std::vector<Point> points;
  while (true) {
    KEYNET_CHECK(next_line(), path, ": file ends after ", points.size(), " points without the closing '}'");
    const std::vector<std::string> fields = split_whitespace(line);
    if (fields[0] == "}") break;
    KEYNET_CHECK(fields.size() == 2, where(), ": expected 'x y', got '", line, "'");
    points.push_back({parse_double(fields[0], where(), "x") - 1.0, parse_double(fields[1], where(), "y") - 1.0});
  }
  KEYNET_CHECK(static_cast<int>(points.size()) == declared, path, ": n_points says ", declared, " but the file lists ",
               points.size(), " points");
  KEYNET_CHECK(expected_points < 0 || declared == expected_points, path, ": has ", declared, " points, expected ",
               expected_points);
  return points;
}

LandmarkRecord read_pts_record(const std::string& pts_path, int expected_points) {
  LandmarkRecord record;
  record.points = read_pts(pts_path, expected_points);
  record.label_source = pts_path;
  for (const char* extension : {".jpg", ".png", ".jpeg"}) {
    const fs::path candidate = fs::path(pts_path).replace_extension(extension);
    if (fs::exists(candidate)) {
      record.image_path = candidate.string();
      break;
    }
  }
  KEYNET_CHECK(!record.image_path.empty(), pts_path, ": no image (.jpg/.png/.jpeg) with the same name next to it");
  record.box = box_around_points(record.points);
  return record;
}

std::map<std::string, CropManifestEntry> read_crop_manifest(const std::string& path) {
  std::ifstream in(path);
  KEYNET_CHECK(in.good(), "cannot open crop manifest '", path, "'");
  std::string line;
  KEYNET_CHECK(std::getline(in, line) && line.rfind("file,orig_w,orig_h,crop_left,crop_top,crop_w,crop_h,new_w,new_h,"
                                                    "scale_x,scale_y",
                                                    0) == 0,
               path, ":1: unexpected header (expected file,orig_w,orig_h,crop_left,...)");
  std::map<std::string, CropManifestEntry> entries;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    for (size_t start = 0;;) {
      const size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    const std::string where = path + ":" + std::to_string(line_no);
    KEYNET_CHECK(fields.size() >= 11, where, ": expected at least 11 comma-separated fields, got ", fields.size());
    CropManifestEntry e;
    e.file = fields[0];
    e.orig_w = parse_int(fields[1], where, "orig_w");
    e.orig_h = parse_int(fields[2], where, "orig_h");
    e.crop_left = parse_int(fields[3], where, "crop_left");
    e.crop_top = parse_int(fields[4], where, "crop_top");
    e.crop_w = parse_int(fields[5], where, "crop_w");
    e.crop_h = parse_int(fields[6], where, "crop_h");
    e.new_w = parse_int(fields[7], where, "new_w");
    e.new_h = parse_int(fields[8], where, "new_h");
    e.scale_x = parse_double(fields[9], where, "scale_x");
    e.scale_y = parse_double(fields[10], where, "scale_y");
    KEYNET_CHECK(e.scale_x > 0 && e.scale_y > 0, where, ": scales must be positive");
    entries[e.file] = e;
  }
  return entries;
}

Affine crop_to_original(const CropManifestEntry& e) {
  const double ix = 1.0 / e.scale_x, iy = 1.0 / e.scale_y;
  return {ix, 0, 0.5 * ix - 0.5 + e.crop_left, 0, iy, 0.5 * iy - 0.5 + e.crop_top};
}

std::vector<int> ibug_mirror_permutation() {
  return parse_mirror_permutation(embedded::ibug_mirror_permutation_68, "data/ibug_mirror_permutation_68.txt",
                                  kIbugPoints);
}

std::string source_photo(const std::string& image_path) {
  const std::filesystem::path path(image_path);
  static const std::regex face_suffix("_[0-9]+$");
  return (path.parent_path().filename() / std::regex_replace(path.stem().string(), face_suffix, "")).string();
}

PhotoSplit split_by_photo(const std::vector<LandmarkRecord>& records, double fraction, uint64_t seed) {
  std::vector<std::string> photos;
  std::map<std::string, int> faces_of;
  for (const LandmarkRecord& r : records)
    if (faces_of[source_photo(r.image_path)]++ == 0) photos.push_back(source_photo(r.image_path));
  Rng rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (size_t i = photos.size(); i > 1; --i) std::swap(photos[i - 1], photos[rng.below(i)]);
  std::set<std::string> held_out;
  size_t taken = 0;
  for (const std::string& photo : photos) {
    if (static_cast<double>(taken) >= fraction * static_cast<double>(records.size())) break;
    held_out.insert(photo);
    taken += static_cast<size_t>(faces_of[photo]);
  }
  PhotoSplit split;
  for (const LandmarkRecord& r : records)
    (held_out.count(source_photo(r.image_path)) ? split.validation : split.train).push_back(r);
  return split;
}

}  // namespace keynet::data
