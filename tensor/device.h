// Where a tensor's memory lives and which element type it holds.
#pragma once
#include <cstddef>
#include <string>

namespace keynet {

enum class Device { CPU, CUDA };
// F32 is the compute type everywhere; F64 exists on the CPU so that gradient checks run the reference
// kernels in double.
enum class DType { F32, F64 };

inline const char* to_string(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline const char* to_string(DType t) { return t == DType::F32 ? "float32" : "float64"; }
inline std::size_t element_size(DType t) { return t == DType::F32 ? 4 : 8; }

}  // namespace keynet
