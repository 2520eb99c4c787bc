#include "data/imm.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "tensor/error.h"

namespace fs = std::filesystem;

namespace keynet::embedded {
extern const char imm_mirror_permutation_58[];  // cmake/embed_text.cmake
}

namespace keynet::data {

namespace {

void parse_imm_name(const std::string& path, ImmShape& shape) {
  const std::string name = fs::path(path).stem().string();
  const bool ok = name.size() == 5 && std::isdigit(static_cast<unsigned char>(name[0])) &&
                  std::isdigit(static_cast<unsigned char>(name[1])) && name[2] == '-' &&
                  std::isdigit(static_cast<unsigned char>(name[3])) && (name[4] == 'm' || name[4] == 'f');
  KEYNET_CHECK(ok, path, ": file name is not of the IMM form PP-Vg.asf (person, view, gender), e.g. 01-1m.asf");
  shape.person = (name[0] - '0') * 10 + (name[1] - '0');
  shape.view = name[3] - '0';
  shape.gender = name[4];
}

bool is_blank_or_comment(const std::string& line) {
  const size_t first = line.find_first_not_of(" \t\r");
  return first == std::string::npos || line[first] == '#';
}

}  // namespace

ImmShape read_imm_asf(const std::string& path, int image_width, int image_height) {
  ImmShape shape;
  shape.asf_path = path;
  parse_imm_name(path, shape);
  std::ifstream in(path);
  KEYNET_CHECK(in.good(), "cannot open IMM shape file '", path, "'");

  std::string line;
  int line_no = 0;
  auto next_content_line = [&]() -> bool {
    while (std::getline(in, line)) {
      ++line_no;
      if (!is_blank_or_comment(line)) return true;
    }
    return false;
  };
  auto where = [&]() { return path + ":" + std::to_string(line_no); };

  KEYNET_CHECK(next_content_line(), path, ": no point count (file is empty or only comments)");
  const std::vector<std::string> count_fields = split_whitespace(line);
  KEYNET_CHECK(count_fields.size() == 1, where(), ": expected the point count, got '", line, "'");
  const int count = parse_int(count_fields[0], where(), "point count");
  KEYNET_CHECK(count == kImmPoints, where(), ": expected ", kImmPoints, " points, the file declares ", count);

  for (int i = 0; i < count; ++i) {
    KEYNET_CHECK(next_content_line(), path, ": file ends after ", i, " of ", count, " points");
    const std::vector<std::string> fields = split_whitespace(line);
    const int columns = static_cast<int>(fields.size());
    KEYNET_CHECK(columns == 7 || columns == 10, where(), ": point line has ", columns,
                 " columns, expected 7 or 10 (<path#> <type> <x rel.> <y rel.> <point#> <from> <to> [3 user])");
    KEYNET_CHECK(shape.columns == 0 || shape.columns == columns, where(), ": point line has ", columns,
                 " columns but earlier lines have ", shape.columns);
    shape.columns = columns;
    const int path_number = parse_int(fields[0], where(), "path#");
    parse_int(fields[1], where(), "type");
    const double x_rel = parse_double(fields[2], where(), "x rel.");
    const double y_rel = parse_double(fields[3], where(), "y rel.");
    const int point_number = parse_int(fields[4], where(), "point#");
    for (int k = 5; k < columns; ++k) parse_double(fields[k], where(), "connection/user field");
    KEYNET_CHECK(point_number == i, where(), ": point# is ", point_number, ", expected ", i, " (points in order)");
    KEYNET_CHECK(x_rel >= 0 && x_rel <= 1 && y_rel >= 0 && y_rel <= 1, where(),
                 ": relative coordinates must lie in [0, 1], got (", x_rel, ", ", y_rel, ")");
    shape.paths.push_back(path_number);
    shape.points.push_back({x_rel * image_width, y_rel * image_height});
  }
  KEYNET_CHECK(next_content_line(), path, ": missing host image name after the ", count, " points");
  const std::vector<std::string> host = split_whitespace(line);
  KEYNET_CHECK(host.size() == 1, where(), ": expected the host image file name, got '", line, "'");
  if (next_content_line())
    KEYNET_FAIL(where(), ": unexpected content after the host image name: '", line,
                "' (more points than the declared ", count, "?)");
  shape.image_path = (fs::path(path).parent_path() / host[0]).string();
  return shape;
}

std::vector<ImmShape> read_imm_dir(const std::string& dir, std::vector<SkippedItem>* skipped) {
  KEYNET_CHECK(fs::is_directory(dir), "IMM directory '", dir, "' does not exist");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".asf") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  KEYNET_CHECK(!files.empty(), "IMM directory '", dir, "' holds no .asf files");
  std::vector<ImmShape> shapes;
  for (const std::string& file : files) {
    if (!skipped) {
      shapes.push_back(read_imm_asf(file));
      continue;
    }
    try {
      shapes.push_back(read_imm_asf(file));
    } catch (const Error& error) {
      skipped->push_back({file, error.what()});
    }
  }
  return shapes;
}

const std::vector<std::string> kImmSplits = {"final", "dev", "fold1", "fold2", "fold3", "fold4"};

int imm_split_side(const std::string& split, int person) {
  KEYNET_CHECK(std::find(kImmSplits.begin(), kImmSplits.end(), split) != kImmSplits.end(), "unknown IMM split '",
               split, "' (final, dev, fold1..fold4)");
  if (split == "final") return person <= kImmLastTrainPerson ? 1 : -1;
  if (person > kImmLastTrainPerson) return 0;
  if (split == "dev") return person <= 28 ? 1 : -1;
  const int fold = split.back() - '0';
  return (person - 1) / 8 + 1 == fold ? -1 : 1;
}

ImmSplit split_imm(const std::vector<ImmShape>& shapes, const std::string& split) {
  ImmSplit result;
  for (const ImmShape& shape : shapes) {
    const int side = imm_split_side(split, shape.person);
    if (side != 0) (side > 0 ? result.train : result.validation).push_back(shape);
  }
  return result;
}

std::vector<int> imm_mirror_permutation() {
  return parse_mirror_permutation(embedded::imm_mirror_permutation_58, "data/imm_mirror_permutation_58.txt",
                                  kImmPoints);
}

LandmarkRecord to_record(const ImmShape& shape) {
  return {shape.image_path, shape.points, std::nullopt, shape.asf_path};
}

std::vector<LandmarkRecord> to_records(const std::vector<ImmShape>& shapes) {
  std::vector<LandmarkRecord> records;
  records.reserve(shapes.size());
  for (const ImmShape& shape : shapes) records.push_back(to_record(shape));
  return records;
}

}  // namespace keynet::data
