// io/half.h: F16 and BF16 conversions against numpy's and PyTorch's (fixtures/half_reference.json, from
// generators/make_half_reference.py), and every 16-bit pattern through a widen-narrow round trip.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/half.h"

using namespace keynet;

namespace {

nlohmann::json load_reference() {
  std::ifstream in(KEYNET_FIXTURES_DIR "/half_reference.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("narrowing float32 to F16 and BF16 rounds as numpy and PyTorch do (ties to even, overflow, subnormals)") {
  const nlohmann::json reference = load_reference();
  REQUIRE(reference["narrow"].size() > 600);
  int f16_wrong = 0, bf16_wrong = 0;
  for (const auto& row : reference["narrow"]) {
    const float x = std::bit_cast<float>(row[0].get<uint32_t>());
    const auto f16 = row[1].get<uint16_t>(), bf16 = row[2].get<uint16_t>();
    INFO("float32 ", x, " (bits ", row[0].get<uint32_t>(), ")");
    CHECK(float_to_f16(x) == f16);
    CHECK(float_to_bf16(x) == bf16);
    f16_wrong += float_to_f16(x) != f16;
    bf16_wrong += float_to_bf16(x) != bf16;
  }
  CHECK(f16_wrong == 0);
  CHECK(bf16_wrong == 0);
}

TEST_CASE("widening F16 to float32 gives numpy's values: zeros, subnormals, normals, infinities, NaN payloads") {
  const nlohmann::json reference = load_reference();
  REQUIRE(reference["widen"].size() == 320);
  for (const auto& row : reference["widen"]) {
    INFO("F16 bits ", row[0].get<uint16_t>());
    CHECK(std::bit_cast<uint32_t>(f16_to_float(row[0].get<uint16_t>())) == row[1].get<uint32_t>());
  }
}

TEST_CASE("known values: 1/3, the largest F16, the smallest subnormal, and ties at 1") {
  CHECK(float_to_f16(1.0f / 3.0f) == 0x3555);
  CHECK(f16_to_float(0x3555) == 0.333251953125f);
  CHECK(float_to_f16(65504.0f) == 0x7bff);
  CHECK(float_to_f16(65520.0f) == 0x7c00);           // halfway to 65536 rounds to even: infinity
  CHECK(f16_to_float(0x0001) == 0x1p-24f);
  CHECK(float_to_f16(0x1p-25f) == 0x0000);           // halfway between 0 and 2^-24: to even, zero
  CHECK(float_to_f16(1.0f + 0x1p-11f) == 0x3c00);    // halfway between 1 and 1 + 2^-10: to even, 1
  CHECK(float_to_f16(1.0f + 0x3p-11f) == 0x3c02);    // halfway between 1 + 2^-10 and 1 + 2^-9: to even, up
  CHECK(bf16_to_float(float_to_bf16(1.0f / 3.0f)) == 0.333984375f);
}

TEST_CASE("every F16 and BF16 value survives a widen-narrow round trip bit for bit (NaN stays NaN)") {
  int f16_wrong = 0, bf16_wrong = 0;
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float wide = f16_to_float(h), bwide = bf16_to_float(h);
    if (std::isnan(wide))
      f16_wrong += !std::isnan(f16_to_float(float_to_f16(wide)));
    else
      f16_wrong += float_to_f16(wide) != h;
    if (std::isnan(bwide))
      bf16_wrong += !std::isnan(bf16_to_float(float_to_bf16(bwide)));
    else
      bf16_wrong += float_to_bf16(bwide) != h;
  }
  CHECK(f16_wrong == 0);
  CHECK(bf16_wrong == 0);
}
