#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/half.h"
#include "tensor/error.h"

namespace keynet {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

std::size_t safetensors_element_size(const std::string& dtype) {
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "F32") return 4;
  if (dtype == "F64" || dtype == "I64") return 8;
  return 0;
}

FloatStorage parse_float_storage(const std::string& name) {
  if (name == "F32") return FloatStorage::AsIs;
  if (name == "F16") return FloatStorage::F16;
  if (name == "BF16") return FloatStorage::BF16;
  KEYNET_FAIL("unknown float storage '", name, "': expected F32, F16 or BF16");
}

void narrow_float_tensors(SafetensorsFile& file, FloatStorage storage, const std::string& path) {
  if (storage == FloatStorage::AsIs) return;
  const bool f16 = storage == FloatStorage::F16;
  for (auto& [name, entry] : file.tensors) {
    KEYNET_CHECK(entry.dtype != "F64", path, ": tensor '", name, "' is F64; only F32 tensors are stored as ",
                 f16 ? "F16" : "BF16");
    if (entry.dtype != "F32") continue;
    const std::size_t n = entry.data.size() / 4;
    std::vector<uint8_t> narrow(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, entry.data.data() + 4 * i, 4);
      const uint16_t h = f16 ? float_to_f16(v) : float_to_bf16(v);
      const float back = f16 ? f16_to_float(h) : bf16_to_float(h);
      KEYNET_CHECK(!std::isinf(back) || std::isinf(v), path, ": tensor '", name, "' holds ", v, " at index ", i,
                   ", beyond the range of ", f16 ? "F16 (largest 65504); keep this model F32 or use BF16" : "BF16");
      std::memcpy(narrow.data() + 2 * i, &h, 2);
    }
    entry.dtype = f16 ? "F16" : "BF16";
    entry.data = std::move(narrow);
  }
}

namespace {
template <class T>
void widen(const SafetensorsEntry& entry, T* out, std::size_t count) {
  const bool f16 = entry.dtype == "F16";
  KEYNET_CHECK(f16 || entry.dtype == "BF16", "widen_half: dtype ", entry.dtype, " is not F16 or BF16");
  KEYNET_CHECK(entry.data.size() == 2 * count, "widen_half: ", entry.data.size(), " bytes do not hold ", count,
               " 16-bit values");
  for (std::size_t i = 0; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, entry.data.data() + 2 * i, 2);
    out[i] = static_cast<T>(f16 ? f16_to_float(h) : bf16_to_float(h));
  }
}
}  // namespace

void widen_half(const SafetensorsEntry& entry, float* out, std::size_t count) { widen(entry, out, count); }
void widen_half(const SafetensorsEntry& entry, double* out, std::size_t count) { widen(entry, out, count); }

namespace {
// A shape's element count; a negative dimension, or a count past what 64 bits hold, is refused.
uint64_t element_count(const std::vector<int64_t>& shape, const std::string& path, const std::string& name) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    KEYNET_CHECK(d >= 0, path, ": tensor '", name, "' has a negative dimension (", d, ")");
    KEYNET_CHECK(d == 0 || n <= std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(d), path,
                 ": tensor '", name, "' has a shape too large to address");
    n *= static_cast<uint64_t>(d);
  }
  return n;
}
}  // namespace

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  uint64_t offset = 0;
  for (const auto& [name, entry] : file.tensors) {
    const std::size_t element = safetensors_element_size(entry.dtype);
    KEYNET_CHECK(element > 0, path, ": tensor '", name, "' has unsupported dtype '", entry.dtype, "'");
    KEYNET_CHECK(entry.data.size() == element_count(entry.shape, path, name) * element, path, ": tensor '", name, "' holds ",
                 entry.data.size(), " bytes but its shape needs ", element_count(entry.shape, path, name) * element);
    header[name] = {{"dtype", entry.dtype}, {"shape", entry.shape}, {"data_offsets", {offset, offset + entry.data.size()}}};
    offset += entry.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as the reference writer does
  const uint64_t header_size = text.size();

  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    KEYNET_CHECK(out.good(), path, ": cannot open '", temporary, "' for writing: ", std::strerror(errno));
    out.write(reinterpret_cast<const char*>(&header_size), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, entry] : file.tensors)
      out.write(reinterpret_cast<const char*>(entry.data.data()), static_cast<std::streamsize>(entry.data.size()));
    out.flush();
    if (!out.good()) {
      const std::string reason = std::strerror(errno);  // e.g. "No space left on device"
      out.close();
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);  // a partial file only takes the space a retry needs
      KEYNET_FAIL(path, ": writing '", temporary, "' failed: ", reason, " (the partial file was removed)");
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  KEYNET_CHECK(!error, path, ": cannot rename '", temporary, "' into place: ", error.message());
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KEYNET_CHECK(in.good(), path, ": cannot open checkpoint (missing file or no permission)");
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  KEYNET_CHECK(file_size >= 8, path, ": not a safetensors file (", file_size, " bytes, shorter than its 8-byte header length)");
  uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), 8);
  KEYNET_CHECK(header_size <= file_size - 8, path, ": header length ", header_size, " exceeds the file size ",
               file_size, " (truncated or not a safetensors file)");
  std::string text(header_size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_size));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    KEYNET_FAIL(path, ": header is not valid JSON (", e.what(), ")");
  }
  KEYNET_CHECK(header.is_object(), path, ": header is not a JSON object");
  const uint64_t data_size = file_size - 8 - header_size;

  SafetensorsFile file;
  struct DataRange {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<DataRange> ranges;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      KEYNET_CHECK(value.is_object(), path, ": __metadata__ is not an object");
      for (const auto& [key, v] : value.items())
        file.metadata[key] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    KEYNET_CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") &&
                     value.contains("data_offsets"),
                 path, ": tensor '", name, "' lacks dtype, shape or data_offsets");
    SafetensorsEntry entry;
    try {
      entry.dtype = value["dtype"].get<std::string>();
      entry.shape = value["shape"].get<std::vector<int64_t>>();
      const auto offsets = value["data_offsets"].get<std::vector<uint64_t>>();
      KEYNET_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= data_size, path, ": tensor '",
                   name, "' has data offsets outside the file's ", data_size, " data bytes (truncated file?)");
      const std::size_t element = safetensors_element_size(entry.dtype);
      if (element > 0)
        KEYNET_CHECK(offsets[1] - offsets[0] == element_count(entry.shape, path, name) * element, path, ": tensor '", name,
                     "' has ", offsets[1] - offsets[0], " bytes, its shape and dtype need ",
                     element_count(entry.shape, path, name) * element);
      entry.data.resize(offsets[1] - offsets[0]);
      in.seekg(static_cast<std::streamoff>(8 + header_size + offsets[0]));
      in.read(reinterpret_cast<char*>(entry.data.data()), static_cast<std::streamsize>(entry.data.size()));
      KEYNET_CHECK(in.good(), path, ": reading tensor '", name, "' failed (truncated file?)");
    } catch (const nlohmann::json::exception& e) {
      KEYNET_FAIL(path, ": tensor '", name, "' has a malformed header entry (", e.what(), ")");
    }
    file.tensors.emplace(name, std::move(entry));
    ranges.push_back({value["data_offsets"][0].get<uint64_t>(), value["data_offsets"][1].get<uint64_t>(), name});
  }
  // The format requires the tensors to tile the data section: no overlap (one byte, two tensors) and no
  // hole (bytes that belong to none, room for a second file hidden inside).
  std::sort(ranges.begin(), ranges.end(), [](const DataRange& a, const DataRange& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const DataRange& r : ranges) {
    KEYNET_CHECK(r.begin >= covered, path, ": tensors '", *previous, "' and '", r.name,
                 "' overlap in the data section (bytes from ", r.begin, " to ", covered, ")");
    KEYNET_CHECK(r.begin == covered, path, ": bytes ", covered, " to ", r.begin,
                 " of the data section belong to no tensor (the format allows no holes)");
    covered = r.end;
    previous = &r.name;
  }
  KEYNET_CHECK(covered == data_size, path, ": bytes ", covered, " to ", data_size,
               " of the data section belong to no tensor (the format allows no holes)");
  return file;
}

}  // namespace keynet
