#include "apps/common/outputs.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "tensor/error.h"

namespace keynet::apps {

namespace fs = std::filesystem;

bool same_path(const std::string& a, const std::string& b) {
  std::error_code error;
  if (fs::exists(a, error) && fs::exists(b, error)) return fs::equivalent(a, b, error);
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error);
}

namespace {
std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

void check_not_input(const std::string& flag, const std::string& path, const std::vector<std::string>& inputs) {
  for (const std::string& input : inputs)
    KEYNET_CHECK(!same_path(path, input), flag, " ", path, ": is one of this command's inputs (", input,
                 "); keynet never writes over an input, choose another name");
}
}  // namespace

void check_output_file(const std::string& flag, const std::string& path, const std::vector<std::string>& extensions,
                       const std::vector<std::string>& inputs, bool force) {
  KEYNET_CHECK(!path.empty(), flag, ": empty file name");
  check_not_input(flag, path, inputs);
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  KEYNET_CHECK(!fs::is_directory(status), flag, " ", path, ": is a folder; name the file to write");
  if (!extensions.empty()) {
    const std::string ext = lower_extension(path);
    std::string allowed;
    for (const std::string& e : extensions) allowed += (allowed.empty() ? "" : " or ") + e;
    KEYNET_CHECK(std::find(extensions.begin(), extensions.end(), ext) != extensions.end(), flag, " ", path,
                 ": this command writes ", allowed, " files; name the file ", allowed);
  }
  KEYNET_CHECK(force || !fs::exists(fs::symlink_status(path)), flag, " ", path,
               ": exists; pass --force to replace it, or choose another name");
}

void check_output_names(const std::string& flag, const std::string& folder, const std::vector<std::string>& names,
                        const std::vector<std::string>& sources, const std::vector<std::string>& inputs, bool force) {
  std::error_code error;
  KEYNET_CHECK(!fs::exists(folder, error) || fs::is_directory(folder, error), flag, " ", folder,
               ": is a file, not a folder; choose a folder for the drawings");
  std::map<std::string, std::string> made_by;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto [at, fresh] = made_by.emplace(names[i], sources[i]);
    KEYNET_CHECK(fresh, sources[i], " and ", at->second, " would both be drawn to ",
                 (fs::path(folder) / names[i]).string(), " (the same file name); rename one, or run them apart");
    const std::string path = (fs::path(folder) / names[i]).string();
    check_not_input(flag, path, inputs);
    KEYNET_CHECK(force || !fs::exists(fs::symlink_status(path)), flag, " ", path,
                 ": exists; pass --force to replace it, or choose another folder");
  }
}

void check_output_folder(const std::string& flag, const std::string& folder, bool force) {
  std::error_code error;
  if (!fs::exists(folder, error)) return;
  KEYNET_CHECK(fs::is_directory(folder, error), flag, " ", folder, ": is a file, not a folder");
  KEYNET_CHECK(force || fs::is_empty(folder, error), flag, " ", folder,
               ": already holds files; pass --force to write into it (files of the same name are replaced), or "
               "choose another folder");
}

void replace_file(const std::string& path, const std::function<void(const std::string& temporary)>& write) {
  const fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code error;
    fs::create_directories(target.parent_path(), error);
    KEYNET_CHECK(!error, path, ": cannot create its folder ", target.parent_path().string(), ": ", error.message());
  }
  const std::string temporary =
      (target.parent_path() /
       std::string(".").append(target.stem().string()).append(".tmp").append(std::to_string(::getpid()))
           .append(target.extension().string()))
          .string();
  try {
    write(temporary);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    KEYNET_FAIL("cannot move ", temporary, " to ", path, ": ", error.message());
  }
}

}  // namespace keynet::apps
