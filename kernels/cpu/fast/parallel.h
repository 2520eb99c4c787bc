// Shared plumbing of the fast CPU kernels: deterministic work splitting and per-thread scratch buffers.
// Internal to kernels/cpu/fast.
#pragma once
#include <immintrin.h>
#include <omp.h>

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

// The AVX2 mask of the first n of 8 lanes: lane j all ones when j < n (the maskload/maskstore convention).
__attribute__((target("avx2,fma"))) inline __m256i lanes_below(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<int64_t>(n, 0, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// x[0] + ... + x[n - 1] in 64 interleaved partial sums, which the compiler keeps in vector registers
// (several, so that the additions do not wait on each other).
inline float sum_of(const float* x, int64_t n) {
  float lanes[64] = {};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int j = 0; j < 64; ++j) lanes[j] += x[i + j];
  float total = 0.0f;
  for (; i < n; ++i) total += x[i];
  for (float lane : lanes) total += lane;
  return total;
}

// Called by every thread of a parallel region once each has written its partial (partial_size floats per
// thread, thread after thread in `partials`: weight_size of a weight gradient, then its bias's): waits for
// all, then adds the partials in thread order to dweight and, unless null, dbias, shared out over the team,
// so that the sums repeat bit for bit.
inline void add_partials_in_thread_order(float* dweight, float* dbias, const float* partials, int64_t weight_size,
                                         int64_t partial_size) {
#pragma omp barrier
  const int team = omp_get_num_threads();  // a library call: not once per element
#pragma omp for schedule(static)
  for (int64_t i = 0; i < weight_size; ++i) {
    float sum = 0.0f;
    for (int t = 0; t < team; ++t) sum += partials[partial_size * t + i];
    dweight[i] += sum;
  }
  if (!dbias) return;
#pragma omp for schedule(static)
  for (int64_t i = weight_size; i < partial_size; ++i) {
    float sum = 0.0f;
    for (int t = 0; t < team; ++t) sum += partials[partial_size * t + i];
    dbias[i - weight_size] += sum;
  }
}

// Per-thread scratch memory, 64-byte aligned, that lives as long as the thread (OpenMP keeps its pool),
// so that steady state training does not allocate. `slot` (0-4) separates the buffers one kernel needs at
// the same time.
float* scratch(int slot, int64_t count);

}  // namespace keynet::cpu::fast
