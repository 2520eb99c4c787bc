// Fast max pooling, threaded over (n, c) planes. A window's winner is its first maximum in row-major
// order and padding never wins, exactly as in kernels/cpu/ref/max_pool2d.h: each window starts from its
// first valid element and a later one replaces the running best only if strictly greater, which is
// also what makes NaN handling identical. Output columns whose windows lie inside the image are done
// a whole row at a time in vectorisable loops; the few border columns go through the scalar window
// loop. 2x2 stride-2 unpadded windows (the common case) have their own loop.
#include <algorithm>
#include <limits>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {

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
      if (best < 0 || plane[i] > plane[best]) best = i;
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
          const bool better = v > value[q];
          value[q] = better ? v : value[q];
          index[q] = better ? offset + int(q) * stride : index[q];
        }
      } else {
#pragma omp simd
        for (int64_t q = q0; q < q1; ++q) {
          const float v = x[(q - q0) * stride];
          value[q] = v > value[q] ? v : value[q];
        }
      }
    }
  }
}

// 2x2 stride 2: window (p, q) covers a[2q], a[2q+1], b[2q], b[2q+1] with a, b rows 2p and 2p+1.
inline float max_2x2(const float* a, const float* b, int64_t q) {
  float m = a[2 * q];
  m = a[2 * q + 1] > m ? a[2 * q + 1] : m;
  m = b[2 * q] > m ? b[2 * q] : m;
  return b[2 * q + 1] > m ? b[2 * q + 1] : m;
}

}  // namespace

// inp (N,C,H,W), out (N,C,P,Q)
void max_pool2d_forward(float* out, const float* inp, const ops::PoolDesc& d) {
  const int64_t P = d.P(), Q = d.Q(), HW = int64_t(d.H) * d.W;
  const Range interior = interior_columns(d, Q);
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
          const bool win_a1 = a1 > a0;
          const float m1 = win_a1 ? a1 : a0;
          const bool win_b0 = b0 > m1;
          const float m2 = win_b0 ? b0 : m1;
          const bool win_b1 = b1 > m2;
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
