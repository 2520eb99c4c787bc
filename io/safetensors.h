// The safetensors file format: 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian data. Readable by the Python safetensors package and so by PyTorch.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace keynet {

struct SafetensorsEntry {
  std::string dtype;           // "F32", "F64" or "I64"
  std::vector<int64_t> shape;  // empty for a scalar
  std::vector<uint8_t> data;   // little-endian, numel * element size bytes
};

struct SafetensorsFile {
  std::map<std::string, SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes to "<path>.tmp" and renames it over path, so an interrupted save never destroys the old file.
void write_safetensors(const std::string& path, const SafetensorsFile& file);
// Throws keynet::Error naming the file and what is wrong with it (truncated, bad header, bad offsets).
SafetensorsFile read_safetensors(const std::string& path);

std::size_t safetensors_element_size(const std::string& dtype);  // 0 for an unknown dtype

}  // namespace keynet
