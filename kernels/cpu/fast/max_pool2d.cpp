// Fast max pooling, threaded over (n, c) planes. A window's winner is its first maximum in row-major
// order, or its last NaN if it holds one, and padding never wins, exactly as in kernels/cpu/ref/max_pool2d.h:
// each window starts from its first valid element and a later one replaces the running best if it is
// strictly greater or NaN (`better` below). Output columns whose windows lie inside the image are done
// a whole row at a time in vectorisable loops; the few border columns go through the scalar window
// loop. 2x2 stride-2 unpadded windows (the common case) have their own loop, and 3x3 stride-2 windows
// padded by 1 (ResNet's) their own AVX-512 kernels, which find each window's winner 16 windows at a time
// and write the input gradient row by row instead of scattering into it.
//
// GCC 12 reports false maybe-uninitialized warnings inside its own AVX-512 conversion intrinsics (the
// headers initialise a register with itself).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {

// Whether v replaces the running best: PyTorch's `val > max || isnan(val)`, so a NaN wins and stays.
inline bool better(float v, float best) { return v > best || std::isnan(v); }

bool is_2x2_stride_2(const ops::PoolDesc& d) { return d.kernel == 2 && d.stride == 2 && d.pad == 0; }

int plane_threads(const ops::PoolDesc& d) { return threads_for(int64_t(d.N) * d.C * d.H * d.W); }

// Window offsets [begin, end) along one axis of output index o that fall inside [0, size).
Range window_span(int64_t o, const ops::PoolDesc& d, int size) {
  const int64_t start = o * d.stride - d.pad;
  return {std::max<int64_t>(0, -start), std::min<int64_t>(d.kernel, size - start)};
}

// Output columns [begin, end) whose windows lie entirely inside the image's width.
Range interior_columns(const ops::PoolDesc& d, int64_t Q) {
  const int64_t begin = std::min<int64_t>(Q, (d.pad + d.stride - 1) / d.stride);
  const int64_t last = int64_t(d.W) - d.kernel + d.pad;  // q * stride <= last
  const int64_t end = last < 0 ? 0 : std::min<int64_t>(Q, last / d.stride + 1);
  return {begin, std::max(begin, end)};
}

// Index within the plane of the first maximum of window (p, q), or -1 when it is all padding.
int64_t argmax_window(const float* plane, int64_t p, int64_t q, const ops::PoolDesc& d) {
  const Range rows = window_span(p, d, d.H), cols = window_span(q, d, d.W);
  int64_t best = -1;
  for (int64_t r = rows.begin; r < rows.end; ++r)
    for (int64_t s = cols.begin; s < cols.end; ++s) {
      const int64_t i = (p * d.stride - d.pad + r) * d.W + q * d.stride - d.pad + s;
      if (best < 0 || better(plane[i], plane[best])) best = i;
    }
  return best;
}

// One output row p of one plane: value (and, if index is not null, plane index) of each window's first
// maximum, interior columns vectorised.
void pool_row(float* __restrict value, int* __restrict index, const float* __restrict plane, int64_t p, int64_t Q,
              const Range& interior, const ops::PoolDesc& d) {
  const Range rows = window_span(p, d, d.H);
  const bool vectorised = interior.size() > 0 && rows.size() > 0;
  for (int64_t q = 0; q < Q; ++q) {
    if (vectorised && q == interior.begin) q = interior.end;
    if (q >= Q) break;
    const int64_t best = argmax_window(plane, p, q, d);
    value[q] = best < 0 ? -std::numeric_limits<float>::infinity() : plane[best];
    if (index) index[q] = int(best);
  }
  if (!vectorised) return;
  const int64_t q0 = interior.begin, q1 = interior.end;
  const int stride = d.stride;
  bool first = true;
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const int64_t row_start = (p * stride - d.pad + r) * d.W - d.pad;
    for (int s = 0; s < d.kernel; ++s) {
      // plane[offset + q * stride] is this window element for column q (interior columns: never negative)
      const int offset = int(row_start + s);
      const float* __restrict x = plane + offset + q0 * stride;
      if (first) {
#pragma omp simd
        for (int64_t q = q0; q < q1; ++q) value[q] = x[(q - q0) * stride];
        if (index)
#pragma omp simd
          for (int64_t q = q0; q < q1; ++q) index[q] = offset + int(q) * stride;
        first = false;
      } else if (index) {
#pragma omp simd
        for (int64_t q = q0; q < q1; ++q) {
          const float v = x[(q - q0) * stride];
          const bool wins = better(v, value[q]);
          value[q] = wins ? v : value[q];
          index[q] = wins ? offset + int(q) * stride : index[q];
        }
      } else {
#pragma omp simd
        for (int64_t q = q0; q < q1; ++q) {
          const float v = x[(q - q0) * stride];
          value[q] = better(v, value[q]) ? v : value[q];
        }
      }
    }
  }
}

// 2x2 stride 2: window (p, q) covers a[2q], a[2q+1], b[2q], b[2q+1] with a, b rows 2p and 2p+1.
inline float max_2x2(const float* a, const float* b, int64_t q) {
  float m = a[2 * q];
  m = better(a[2 * q + 1], m) ? a[2 * q + 1] : m;
  m = better(b[2 * q], m) ? b[2 * q] : m;
  return better(b[2 * q + 1], m) ? b[2 * q + 1] : m;
}

bool is_3x3_stride_2_pad_1(const ops::PoolDesc& d) { return d.kernel == 3 && d.stride == 2 && d.pad == 1; }

bool has_avx512() {
  static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl");
  return supported;
}

// ---- 3x3 stride-2 windows padded by 1 (ResNet's) on AVX-512. The forward pass is step 1 below; the
// backward pass takes a plane in two steps:
//   1. each window's winner as a code 3r + s (row r, column s of the window), 16 windows of a row at a
//      time: the window's three columns of 16 windows are the even, odd and next even elements of 33
//      consecutive inputs, picked by permutes;
//   2. each input row of dinp from the codes and dout of the (one or two) window rows over it: an even
//      input column lies under window column s = 1 of one window, an odd one under s = 2 of window q and
//      s = 0 of window q + 1. Every element is written once, its windows' gradients added in the order
//      the scalar loop adds them (window row by row, column by column), so the sums are the same.
constexpr uint8_t kNoWindow = 255;  // the code of a window past the row's end: matches no position

// Each window's maximum (values, may be null) and its winner's code (codes, may be null), for one plane.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void pool3x3s2_winners(float* values, uint8_t* codes,
                                                                            const float* x, int64_t P, int64_t Q,
                                                                            const ops::PoolDesc& d) {
  const Range interior = interior_columns(d, Q);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t q = 0; q < Q; ++q) {  // border windows, one at a time
      if (q == interior.begin) q = interior.end;
      if (q >= Q) break;
      const int64_t best = argmax_window(x, p, q, d);
      if (values) values[p * Q + q] = x[best];
      if (codes) codes[p * Q + q] = uint8_t(3 * (best / d.W - (2 * p - 1)) + best % d.W - (2 * q - 1));
    }
    const Range rows = window_span(p, d, d.H);
    for (int64_t q0 = interior.begin; q0 < interior.end; q0 += 16) {
      const int64_t lanes = std::min<int64_t>(16, interior.end - q0);
      // inputs 2 q0 - 1 ... 2 (q0 + lanes) - 1 of a row (2 lanes + 1 values, all inside the row): a and b
      // hold the first 2 lanes, a2 and b2 the last 2 lanes - 1
      const __mmask16 low = first_lanes(2 * lanes), high = first_lanes(2 * lanes - 16);
      const __mmask16 low2 = first_lanes(2 * lanes - 1), high2 = first_lanes(2 * lanes - 17);
      __m512 best = _mm512_setzero_ps();
      __m512i code = _mm512_setzero_si512();
      bool first = true;
      for (int64_t r = rows.begin; r < rows.end; ++r) {
        const float* in = x + (2 * p - 1 + r) * d.W + 2 * q0 - 1;
        const __m512 a = _mm512_maskz_loadu_ps(low, in), b = _mm512_maskz_loadu_ps(high, in + 16);
        const __m512 a2 = _mm512_maskz_loadu_ps(low2, in + 2), b2 = _mm512_maskz_loadu_ps(high2, in + 18);
        const __m512 column[3] = {_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b),
                                  _mm512_permutex2var_ps(a2, even, b2)};
        for (int s = 0; s < 3; ++s) {
          const __m512i position = _mm512_set1_epi32(int(3 * r + s));
          if (first) {
            best = column[s];
            code = position;
            first = false;
          } else if (codes) {
            // better(): greater (ordered, so never against a NaN best) or NaN itself
            const __mmask16 wins = _mm512_cmp_ps_mask(column[s], best, _CMP_GT_OQ) |
                                   _mm512_cmp_ps_mask(column[s], column[s], _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(best, wins, column[s]);
            code = _mm512_mask_mov_epi32(code, wins, position);
          } else {
            // the value alone, in as many instructions as the strict compare took: max_ps returns its
            // second operand (best) when either is NaN, so a NaN best stays, and a NaN column is moved in
            const __mmask16 nan = _mm512_cmp_ps_mask(column[s], column[s], _CMP_UNORD_Q);
            best = _mm512_mask_mov_ps(_mm512_max_ps(column[s], best), nan, column[s]);
          }
        }
      }
      const __mmask16 store = first_lanes(lanes);
      if (values) _mm512_mask_storeu_ps(values + p * Q + q0, store, best);
      if (codes) _mm_mask_storeu_epi8(codes + p * Q + q0, store, _mm512_cvtepi32_epi8(code));
    }
  }
}

// The lanes whose window code is `position` (a helper, not a lambda: a lambda does not inherit the
// caller's target attribute, and without -march=native its intrinsics would not compile).
__attribute__((target("avx512f"))) inline __mmask16 lanes_equal(__m512i code, int position) {
  return _mm512_cmpeq_epi32_mask(code, _mm512_set1_epi32(position));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void pool3x3s2_backward_plane(float* dx, const float* dy,
                                                                          const uint8_t* codes, int64_t P,
                                                                          int64_t Q, const ops::PoolDesc& d) {
  // dinp columns 2 q0 .. 2 q0 + 31 from windows q0 .. q0 + 15 (and q0 + 16 for the last odd column)
  const __m512i to_low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i to_high = _mm512_add_epi32(to_low, _mm512_set1_epi32(8));
  for (int64_t h = 0; h < d.H; ++h) {
    // window rows over input row h, in order, with the row r of the window that h is
    int64_t window_rows[2], window_r[2], count = 0;
    for (int64_t p = std::max<int64_t>(0, h / 2); p < P && 2 * p - 1 <= h; ++p)
      if (h - (2 * p - 1) <= 2) {
        window_rows[count] = p;
        window_r[count++] = h - (2 * p - 1);
      }
    float* out = dx + h * d.W;
    for (int64_t q0 = 0; q0 < Q; q0 += 16) {
      const __mmask16 mask = first_lanes(Q - q0), next_mask = first_lanes(Q - q0 - 1);
      __m512 even_sum = _mm512_setzero_ps(), odd_sum = _mm512_setzero_ps();
      for (int64_t i = 0; i < count; ++i) {
        const int64_t p = window_rows[i];
        const int r = int(window_r[i]);
        const uint8_t* c = codes + p * Q + q0;
        const float* g = dy + p * Q + q0;
        const __m512i code = _mm512_cvtepu8_epi32(_mm_mask_loadu_epi8(_mm_set1_epi8(char(kNoWindow)), mask, c));
        const __m512i next_code =
            _mm512_cvtepu8_epi32(_mm_mask_loadu_epi8(_mm_set1_epi8(char(kNoWindow)), next_mask, c + 1));
        const __m512 grad = _mm512_maskz_loadu_ps(mask, g), next_grad = _mm512_maskz_loadu_ps(next_mask, g + 1);
        even_sum = _mm512_add_ps(even_sum, _mm512_maskz_mov_ps(lanes_equal(code, 3 * r + 1), grad));
        odd_sum = _mm512_add_ps(odd_sum, _mm512_maskz_mov_ps(lanes_equal(code, 3 * r + 2), grad));
        odd_sum = _mm512_add_ps(odd_sum, _mm512_maskz_mov_ps(lanes_equal(next_code, 3 * r), next_grad));
      }
      const int64_t w0 = 2 * q0, columns = d.W - w0;  // of dinp from w0 on (this block writes up to 32)
      const __mmask16 low = first_lanes(columns), high = first_lanes(columns - 16);
      _mm512_mask_storeu_ps(out + w0, low, _mm512_permutex2var_ps(even_sum, to_low, odd_sum));
      _mm512_mask_storeu_ps(out + w0 + 16, high, _mm512_permutex2var_ps(even_sum, to_high, odd_sum));
    }
  }
}

}  // namespace

// inp (N,C,H,W), out (N,C,P,Q)
void max_pool2d_forward(float* out, const float* inp, const ops::PoolDesc& d) {
  const int64_t P = d.P(), Q = d.Q(), HW = int64_t(d.H) * d.W;
  const Range interior = interior_columns(d, Q);
  if (has_avx512() && is_3x3_stride_2_pad_1(d)) {
#pragma omp parallel for schedule(static) num_threads(plane_threads(d))
    for (int64_t plane = 0; plane < int64_t(d.N) * d.C; ++plane)
      pool3x3s2_winners(out + plane * P * Q, nullptr, inp + plane * HW, P, Q, d);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(plane_threads(d))
  for (int64_t plane = 0; plane < int64_t(d.N) * d.C; ++plane) {
    const float* x = inp + plane * HW;
    float* y = out + plane * P * Q;
    for (int64_t p = 0; p < P; ++p) {
      if (is_2x2_stride_2(d)) {
        const float* a = x + 2 * p * d.W;
        const float* b = a + d.W;
        for (int64_t q = 0; q < Q; ++q) y[p * Q + q] = max_2x2(a, b, q);
      } else {
        pool_row(y + p * Q, nullptr, x, p, Q, interior, d);
      }
    }
  }
}

// dinp (N,C,H,W) overwritten: each dout element goes to its window's winner
void max_pool2d_backward(float* dinp, const float* dout, const float* inp, const ops::PoolDesc& d) {
  const int64_t P = d.P(), Q = d.Q(), HW = int64_t(d.H) * d.W;
  const Range interior = interior_columns(d, Q);
  if (has_avx512() && is_3x3_stride_2_pad_1(d)) {
#pragma omp parallel for schedule(static) num_threads(plane_threads(d))
    for (int64_t plane = 0; plane < int64_t(d.N) * d.C; ++plane) {
      uint8_t* codes = reinterpret_cast<uint8_t*>(scratch(0, (P * Q + 3) / 4));
      pool3x3s2_winners(nullptr, codes, inp + plane * HW, P, Q, d);
      pool3x3s2_backward_plane(dinp + plane * HW, dout + plane * P * Q, codes, P, Q, d);
    }
    return;
  }
#pragma omp parallel for schedule(static) num_threads(plane_threads(d))
  for (int64_t plane = 0; plane < int64_t(d.N) * d.C; ++plane) {
    const float* x = inp + plane * HW;
    const float* dy = dout + plane * P * Q;
    float* dx = dinp + plane * HW;
    if (is_2x2_stride_2(d)) {
      // Windows tile the image: write all four elements of each, then zero what no window covers.
      for (int64_t p = 0; p < P; ++p) {
        const float* a = x + 2 * p * d.W;
        const float* b = a + d.W;
        float* da = dx + 2 * p * d.W;
        float* db = da + d.W;
        for (int64_t q = 0; q < Q; ++q) {
          const float g = dy[p * Q + q];
          const float a0 = a[2 * q], a1 = a[2 * q + 1], b0 = b[2 * q], b1 = b[2 * q + 1];
          const bool win_a1 = better(a1, a0);
          const float m1 = win_a1 ? a1 : a0;
          const bool win_b0 = better(b0, m1);
          const float m2 = win_b0 ? b0 : m1;
          const bool win_b1 = better(b1, m2);
          const int winner = win_b1 ? 3 : (win_b0 ? 2 : (win_a1 ? 1 : 0));
          da[2 * q] = winner == 0 ? g : 0.0f;
          da[2 * q + 1] = winner == 1 ? g : 0.0f;
          db[2 * q] = winner == 2 ? g : 0.0f;
          db[2 * q + 1] = winner == 3 ? g : 0.0f;
        }
        if (d.W > 2 * Q) {
          da[d.W - 1] = 0.0f;
          db[d.W - 1] = 0.0f;
        }
      }
      std::fill(dx + 2 * P * d.W, dx + HW, 0.0f);
      continue;
    }
    std::fill(dx, dx + HW, 0.0f);
    float* value = scratch(0, Q);
    int* index = reinterpret_cast<int*>(scratch(1, Q));  // a plane index fits in an int
    for (int64_t p = 0; p < P; ++p) {
      pool_row(value, index, x, p, Q, interior, d);
      for (int64_t q = 0; q < Q; ++q)
        if (index[q] >= 0) dx[index[q]] += dy[p * Q + q];
    }
  }
}

}  // namespace keynet::cpu::fast
