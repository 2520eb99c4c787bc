// 16-bit floats as files store them: IEEE 754 binary16 ("F16": 5 exponent bits, 10 mantissa bits) and
// bfloat16 ("BF16": float32's 8 exponent bits, 7 mantissa bits), to and from float32. Widening is exact
// (subnormals, infinities and NaN payloads included); narrowing rounds to nearest, ties to even, as
// numpy's astype and PyTorch's .half() / .bfloat16() do.
#pragma once
#include <bit>
#include <cstdint>

namespace keynet {

inline float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float32
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// Values of magnitude 65520 or more round to infinity (65504 is the largest finite F16).
inline uint16_t float_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((magnitude >> 13) & 0x3ffu);  // quiet NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // 65520 and above, infinity included
  // Rounds `value` >> shift to nearest, ties to even.
  auto round_shift = [](uint32_t value, int shift) {
    const uint32_t kept = value >> shift, rest = value & ((1u << shift) - 1), half = 1u << (shift - 1);
    return kept + (rest > half || (rest == half && (kept & 1u)));
  };
  if (magnitude < 0x38800000u) {  // below 2^-14: an F16 subnormal (in units of 2^-24) or zero
    const int exponent = static_cast<int>(magnitude >> 23);
    if (exponent < 102) return sign;  // under 2^-25: rounds to zero
    const uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
    return sign | static_cast<uint16_t>(round_shift(significand, 126 - exponent));
  }
  // Rebias the exponent and keep 10 mantissa bits; a carry out of the mantissa moves to the next exponent.
  return sign | static_cast<uint16_t>(round_shift(magnitude - ((127u - 15u) << 23), 13));
}

inline float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// Values of magnitude beyond 3.3895e38 round to infinity, as in float32 arithmetic.
inline uint16_t float_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace keynet
