// Shared plumbing of the fast CPU kernels: deterministic work splitting and per-thread scratch buffers.
// Internal to kernels/cpu/fast.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/threads.h"

namespace keynet::cpu::fast {

// The kernels split work over cpu_threads() themselves, with static schedules, so that results repeat
// bit for bit for a given thread count.
inline int kernel_threads() { return cpu_threads(); }

// [begin, end) of part `index` of `parts` near-equal parts of [0, total); part boundaries are rounded to
// multiples of `align` (the last part takes the remainder).
struct Range {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};
inline Range split(int64_t total, int parts, int index, int64_t align = 1) {
  const int64_t units = (total + align - 1) / align;
  const int64_t begin = std::min(total, units * index / parts * align);
  const int64_t end = index + 1 == parts ? total : std::min(total, units * (index + 1) / parts * align);
  return {begin, end};
}

// The AVX-512 mask of the first n of 16 lanes (none for n <= 0, all for n >= 16): the loads and stores of
// a row's last partial vector.
inline __mmask16 first_lanes(int64_t n) {
  return n <= 0 ? __mmask16(0) : n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
}

// Per-thread scratch memory, 64-byte aligned, that lives as long as the thread (OpenMP keeps its pool),
// so that steady state training does not allocate. `slot` (0-3) separates the buffers one kernel needs at
// the same time.
float* scratch(int slot, int64_t count);

}  // namespace keynet::cpu::fast
