// Fuzz targets: every reader of outside input (see targets.h).
#include "fuzz/targets.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "data/ibug.h"
#include "data/image.h"
#include "data/imm.h"
#include "io/safetensors.h"
#include "tensor/error.h"

namespace keynet::fuzz {

namespace {

void read_asf(const std::string& path) { data::read_imm_asf(path); }
void read_pts(const std::string& path) { data::read_pts(path); }
void read_xml(const std::string& path) { data::read_dlib_xml(path); }
void read_image(const std::string& path) { data::load_image(path); }
void read_image_header(const std::string& path) { data::read_image_header(path); }
void read_exif(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  data::exif_orientation(bytes);
}
void read_model(const std::string& path) { read_safetensors(path); }
void read_manifest(const std::string& path) { data::read_crop_manifest(path); }

// One scratch folder per process, in memory when /dev/shm exists; removed when the process exits.
struct ScratchFolder {
  std::filesystem::path path;
  ScratchFolder() {
    const std::filesystem::path root =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    path = root / ("keynet_fuzz_" + std::to_string(getpid()));
    std::filesystem::create_directories(path);
  }
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string scratch_path(const Target& target) {
  static const ScratchFolder folder;
  return (folder.path / target.file_name).string();
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"asf", "01-1m.asf", read_asf},
      {"pts", "face.pts", read_pts},
      {"dlib_xml", "labels.xml", read_xml},
      {"image", "image.png", read_image},
      {"image_header", "image.png", read_image_header},
      {"exif", "photo.jpg", read_exif, false},
      {"safetensors", "model.safetensors", read_model},
      {"crop_manifest", "crop_manifest.csv", read_manifest},
  };
  return all;
}

const Target& target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return t;
  KEYNET_FAIL("no fuzz target named '", name, "'");
}

bool run_one(const Target& target, const uint8_t* data, size_t size) {
  const std::string path = scratch_path(target);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    KEYNET_CHECK(out.good(), path, ": could not write the fuzz input");
  }
  try {
    target.read(path);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace keynet::fuzz
