#include "data/landmarks.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace keynet::data {

std::string records_checksum(const std::vector<LandmarkRecord>& records) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&](const void* bytes, size_t size) {
    for (size_t i = 0; i < size; ++i) hash = (hash ^ static_cast<const unsigned char*>(bytes)[i]) * 0x100000001b3ULL;
  };
  for (const LandmarkRecord& r : records) {
    const std::filesystem::path path(r.image_path);
    const std::string name = (path.parent_path().filename() / path.filename()).generic_string();
    mix(name.data(), name.size() + 1);
    for (const Point& p : r.points) mix(&p, sizeof p);
    if (r.box) mix(&*r.box, sizeof *r.box);
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

FaceBox box_around_points(const std::vector<Point>& points, double margin) {
  KEYNET_CHECK(!points.empty(), "box_around_points: no points");
  double x0 = points[0].x, x1 = x0, y0 = points[0].y, y1 = y0;
  for (const Point& p : points) {
    x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
    y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  }
  const double w = x1 - x0, h = y1 - y0;
  return {x0 - margin * w, y0 - margin * h, w * (1 + 2 * margin), h * (1 + 2 * margin)};
}

std::vector<std::string> split_whitespace(const std::string& line) {
  std::vector<std::string> tokens;
  std::istringstream in(line);
  for (std::string token; in >> token;) tokens.push_back(token);
  return tokens;
}

double parse_double(const std::string& token, const std::string& where, const char* field) {
  double value = 0;
  const char* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  KEYNET_CHECK(ec == std::errc() && ptr == end && std::isfinite(value), where, ": ", field,
               " is not a number: '", token, "'");
  return value;
}

int parse_int(const std::string& token, const std::string& where, const char* field) {
  int value = 0;
  const char* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, value);
  KEYNET_CHECK(ec == std::errc() && ptr == end, where, ": ", field, " is not an integer: '", token, "'");
  return value;
}

std::vector<int> parse_mirror_permutation(const std::string& text, const std::string& where, int expected_points) {
  std::istringstream in(text);
  std::vector<int> perm;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty() || line[0] == '#') continue;
    for (const std::string& token : split_whitespace(line))
      perm.push_back(parse_int(token, where + ":" + std::to_string(line_no), "permutation entry"));
  }
  const int n = static_cast<int>(perm.size());
  KEYNET_CHECK(expected_points < 0 || n == expected_points, where, ": expected ", expected_points,
               " permutation entries, got ", n);
  for (int i = 0; i < n; ++i) {
    KEYNET_CHECK(perm[i] >= 0 && perm[i] < n, where, ": entry ", i, " = ", perm[i], " is outside 0..", n - 1);
    KEYNET_CHECK(perm[perm[i]] == i, where, ": not its own inverse (", i, " -> ", perm[i], " -> ", perm[perm[i]],
                 "); mirroring twice must give the original labels");
  }
  return perm;
}

std::vector<int> read_mirror_permutation(const std::string& path, int expected_points) {
  std::ifstream in(path);
  KEYNET_CHECK(in.good(), "cannot open mirror permutation file '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_mirror_permutation(text.str(), path, expected_points);
}

}  // namespace keynet::data
