// What the apps write, checked before the first write: an output never replaces one of the command's
// inputs (not even with --force), an existing file is replaced only with --force, and a file's name
// says its format (a PNG is not written under a .jpg name). Writes go to a temporary file in the same
// folder and are renamed into place, so a failed command leaves the old file as it was.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace keynet::apps {

// Whether two paths name the same file (the same inode when both exist, else the same normalised path).
bool same_path(const std::string& a, const std::string& b);

// Refuses `path` (given by `flag`, e.g. "--out") when it is one of `inputs`, a folder, has an extension
// other than `extensions` (lower case with the dot, e.g. {".png"}; empty: any), or exists and `force`
// is false. Every message names the flag, the path and what to do.
void check_output_file(const std::string& flag, const std::string& path, const std::vector<std::string>& extensions,
                       const std::vector<std::string>& inputs, bool force);

// Refuses a list of files to write into one folder when two are the same name (naming both inputs they
// come from), or any would replace an input, or exists without `force`. `sources[i]` made `names[i]`.
void check_output_names(const std::string& flag, const std::string& folder, const std::vector<std::string>& names,
                        const std::vector<std::string>& sources, const std::vector<std::string>& inputs, bool force);

// Refuses a folder to write several files into when it is a file, or already holds files and `force`
// is false.
void check_output_folder(const std::string& flag, const std::string& folder, bool force);

// Calls write(temporary) with a temporary path beside `path` (same extension), then renames it into
// place; on failure the temporary file is removed and `path` is untouched. Creates the parent folder.
void replace_file(const std::string& path, const std::function<void(const std::string& temporary)>& write);

}  // namespace keynet::apps
