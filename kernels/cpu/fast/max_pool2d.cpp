// Fast max pooling, threaded over (n, c) planes. A window's winner is its first maximum in row-major
// order and padding never wins, exactly as in kernels/cpu/ref/max_pool2d.h; 2x2 stride-2 unpadded
// windows (the common case) have their own loop.
#include <algorithm>
#include <limits>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {

bool is_2x2_stride_2(const ops::PoolDesc& d) { return d.kernel == 2 && d.stride == 2 && d.pad == 0; }

// Index within the plane of the first maximum of the 2x2 window whose top-left corner is at i.
inline int64_t argmax_2x2(const float* plane, int64_t i, int W) {
  int64_t best = i;
  if (plane[i + 1] > plane[best]) best = i + 1;
  if (plane[i + W] > plane[best]) best = i + W;
  if (plane[i + W + 1] > plane[best]) best = i + W + 1;
  return best;
}

// Index within the plane of the window's first maximum, or -1 when the window is all padding.
int64_t argmax_window(const float* plane, int64_t p, int64_t q, const ops::PoolDesc& d) {
  int64_t best = -1;
  for (int r = 0; r < d.kernel; ++r) {
    const int64_t h = p * d.stride - d.pad + r;
    if (h < 0 || h >= d.H) continue;
    for (int s = 0; s < d.kernel; ++s) {
      const int64_t w = q * d.stride - d.pad + s;
      if (w < 0 || w >= d.W) continue;
      if (best < 0 || plane[h * d.W + w] > plane[best]) best = h * d.W + w;
    }
  }
  return best;
}

int plane_threads(const ops::PoolDesc& d) { return threads_for(int64_t(d.N) * d.C * d.H * d.W); }

}  // namespace

// inp (N,C,H,W), out (N,C,P,Q)
void max_pool2d_forward(float* out, const float* inp, const ops::PoolDesc& d) {
  const int64_t P = d.P(), Q = d.Q(), HW = int64_t(d.H) * d.W;
  const bool fast_window = is_2x2_stride_2(d);
#pragma omp parallel for schedule(static) num_threads(plane_threads(d))
  for (int64_t plane = 0; plane < int64_t(d.N) * d.C; ++plane) {
    const float* x = inp + plane * HW;
    float* y = out + plane * P * Q;
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t best = fast_window ? argmax_2x2(x, 2 * p * d.W + 2 * q, d.W) : argmax_window(x, p, q, d);
        y[p * Q + q] = best < 0 ? -std::numeric_limits<float>::infinity() : x[best];
      }
  }
}

// dinp (N,C,H,W) overwritten: each dout element goes to its window's winner
void max_pool2d_backward(float* dinp, const float* dout, const float* inp, const ops::PoolDesc& d) {
  const int64_t P = d.P(), Q = d.Q(), HW = int64_t(d.H) * d.W;
  const bool fast_window = is_2x2_stride_2(d);
#pragma omp parallel for schedule(static) num_threads(plane_threads(d))
  for (int64_t plane = 0; plane < int64_t(d.N) * d.C; ++plane) {
    const float* x = inp + plane * HW;
    const float* dy = dout + plane * P * Q;
    float* dx = dinp + plane * HW;
    std::fill(dx, dx + HW, 0.0f);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const int64_t best = fast_window ? argmax_2x2(x, 2 * p * d.W + 2 * q, d.W) : argmax_window(x, p, q, d);
        if (best >= 0) dx[best] += dy[p * Q + q];
      }
  }
}

}  // namespace keynet::cpu::fast
