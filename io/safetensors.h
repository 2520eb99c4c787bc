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
  std::string dtype;           // "F32", "F64", "I64", or "F16" / "BF16" (io/half.h)
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

// How float32 tensors are written: as they are (training checkpoints, which resume bitwise), or narrowed
// to F16 or BF16 (shipped models: half the bytes; loading widens them back to float32).
enum class FloatStorage { AsIs, F16, BF16 };
FloatStorage parse_float_storage(const std::string& name);  // "F32" (AsIs), "F16" or "BF16"; else throws

// Narrows every F32 tensor of `file` to `storage`, rounding to nearest even; I64 and already narrow
// tensors stay as they are, and so does the metadata. A value the narrow type cannot hold (F16: beyond
// 65504) is refused, naming `path` and the tensor, rather than stored as infinity; so is an F64 tensor.
void narrow_float_tensors(SafetensorsFile& file, FloatStorage storage, const std::string& path);

// An F16 or BF16 tensor's values widened (exactly) to float or double, `count` of them into `out`.
void widen_half(const SafetensorsEntry& entry, float* out, std::size_t count);
void widen_half(const SafetensorsEntry& entry, double* out, std::size_t count);

}  // namespace keynet
