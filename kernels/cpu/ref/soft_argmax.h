// Reference soft-argmax (kernels/descriptors.h's SoftArgmaxDesc): per (n, k) map of H*W scores, the
// softmax of beta * score and the expected cell centre under it. The forward is the specification (plain
// loops, one map after another); the backward is elementwise once probs and the point are known, so its
// template serves CPU Fast as well, threaded over the maps.
//
// NaN, as PyTorch's softmax: the map's max keeps a NaN (a later element replaces it when greater *or
// NaN*, and nothing is greater than NaN), so a NaN score makes every exp, the sum, every probability and
// the point NaN. +Inf does too (exp(inf - inf)), and so does a map of only -Inf; a single -Inf in a finite
// map gets probability 0.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cpu/threads.h"
#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

// The centre of cell `index` of `size` cells in normalised coordinates: (2 index + 1) / size - 1.
template <class T>
inline T cell_centre(int index, int size) {
  return T(2 * index + 1) / T(size) - T(1);
}

// The largest value of x[0..n), or NaN if any is NaN.
template <class T>
T max_or_nan(const T* x, int n) {
  T best = x[0];
  for (int i = 1; i < n; ++i)
    if (x[i] > best || std::isnan(x[i])) best = x[i];
  return best;
}

// inp (N,K,H,W) -> probs (N,K,H,W), out (N,2K): out[n,2k] = x, out[n,2k+1] = y
template <class T>
void soft_argmax2d_forward(T* out, T* probs, const T* inp, const ops::SoftArgmaxDesc& d) {
  const int HW = d.H * d.W;
  const T beta = T(d.beta);
  for (int map = 0; map < d.N * d.K; ++map) {
    const T* score = inp + int64_t(map) * HW;
    T* p = probs + int64_t(map) * HW;
    const T top = max_or_nan(score, HW);
    T sum = T(0);
    for (int c = 0; c < HW; ++c) {
      p[c] = std::exp(beta * (score[c] - top));
      sum += p[c];
    }
    T x = T(0), y = T(0);
    for (int i = 0; i < d.H; ++i)
      for (int j = 0; j < d.W; ++j) {
        T& pij = p[i * d.W + j];
        pij /= sum;
        x += pij * cell_centre<T>(j, d.W);
        y += pij * cell_centre<T>(i, d.H);
      }
    out[2 * map] = x;
    out[2 * map + 1] = y;
  }
}

// dinp (N,K,H,W) overwritten: beta * p_ij * ((gx(j) - x) dx + (gy(i) - y) dy), (x, y) and (dx, dy) the
// map's point and its gradient (docs/layers.md derives it)
template <class T>
void soft_argmax2d_backward(T* dinp, const T* dout, const T* probs, const T* out, const ops::SoftArgmaxDesc& d) {
  const int HW = d.H * d.W, maps = d.N * d.K;
  const T beta = T(d.beta);
#pragma omp parallel for schedule(static) num_threads(threads_for(int64_t(maps) * HW))
  for (int map = 0; map < maps; ++map) {
    const T x = out[2 * map], y = out[2 * map + 1], dx = dout[2 * map], dy = dout[2 * map + 1];
    const T* p = probs + int64_t(map) * HW;
    T* grad = dinp + int64_t(map) * HW;
    for (int i = 0; i < d.H; ++i)
      for (int j = 0; j < d.W; ++j)
        grad[i * d.W + j] =
            beta * p[i * d.W + j] * ((cell_centre<T>(j, d.W) - x) * dx + (cell_centre<T>(i, d.H) - y) * dy);
  }
}

}  // namespace keynet::cpu::ref
