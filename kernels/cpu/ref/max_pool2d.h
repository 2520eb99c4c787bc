// Reference max pooling. A window's winner is its first maximum in row-major order, unless it holds a
// NaN: then its last NaN wins, as in PyTorch (whose kernels take an element when `val > max || isnan(val)`).
// Padding never wins.
#pragma once
#include <cmath>
#include <limits>

#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

// Index into inp (within one (n,c) plane) of the window's winner, or -1 if the window is all padding.
template <class T>
int max_pool2d_argmax(const T* plane, int p, int q, const ops::PoolDesc& d) {
  int best = -1;
  T best_value = -std::numeric_limits<T>::infinity();
  for (int r = 0; r < d.kernel; ++r)
    for (int s = 0; s < d.kernel; ++s) {
      const int h = p * d.stride - d.pad + r;
      const int w = q * d.stride - d.pad + s;
      if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
      const T v = plane[h * d.W + w];
      if (best < 0 || v > best_value || std::isnan(v)) {
        best = h * d.W + w;
        best_value = v;
      }
    }
  return best;
}

// inp (N,C,H,W), out (N,C,P,Q)
template <class T>
void max_pool2d_forward(T* out, const T* inp, const ops::PoolDesc& d) {
  const int P = d.P(), Q = d.Q();
  for (int plane = 0; plane < d.N * d.C; ++plane) {
    const T* x = inp + plane * d.H * d.W;
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        const int best = max_pool2d_argmax(x, p, q, d);
        out[(plane * P + p) * Q + q] = best < 0 ? -std::numeric_limits<T>::infinity() : x[best];
      }
  }
}

// dinp (N,C,H,W) overwritten: each dout element goes to its window's winner
template <class T>
void max_pool2d_backward(T* dinp, const T* dout, const T* inp, const ops::PoolDesc& d) {
  const int P = d.P(), Q = d.Q();
  for (int i = 0; i < d.N * d.C * d.H * d.W; ++i) dinp[i] = T(0);
  for (int plane = 0; plane < d.N * d.C; ++plane) {
    const T* x = inp + plane * d.H * d.W;
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        const int best = max_pool2d_argmax(x, p, q, d);
        if (best >= 0) dinp[plane * d.H * d.W + best] += dout[(plane * P + p) * Q + q];
      }
  }
}

}  // namespace keynet::cpu::ref
