// Nearest-neighbour upsampling by an integer factor: the reference, and the fast CPU kernel too. Each
// output element is a copy and each input gradient a sum of scale x scale values, so there is nothing to
// tune: as one CUDA kernel per direction serves cuda::ref and cuda::fast, this template serves CPU Ref
// (float and double) and Fast, threaded over the (n, c) planes when large (each element is computed
// alone, in a fixed order: bitwise the same at any thread count).
#pragma once
#include <cstdint>

#include "kernels/cpu/threads.h"
#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

// inp (N,C,H,W) -> out (N,C,H*s,W*s): out[n,c,y,x] = inp[n,c,y/s,x/s]
template <class T>
void upsample_nearest2d_forward(T* out, const T* inp, const ops::UpsampleDesc& d) {
  const int s = d.scale, OH = d.OH(), OW = d.OW(), planes = d.N * d.C;
#pragma omp parallel for schedule(static) num_threads(threads_for(int64_t(planes) * OH * OW))
  for (int plane = 0; plane < planes; ++plane) {
    const T* x = inp + int64_t(plane) * d.H * d.W;
    T* y = out + int64_t(plane) * OH * OW;
    for (int oy = 0; oy < OH; ++oy)
      for (int ox = 0; ox < OW; ++ox) y[oy * OW + ox] = x[(oy / s) * d.W + ox / s];
  }
}

// dinp (N,C,H,W) overwritten: dinp[n,c,i,j] = the sum of dout's block rows i*s..i*s+s-1, columns
// j*s..j*s+s-1, in row-major order
template <class T>
void upsample_nearest2d_backward(T* dinp, const T* dout, const ops::UpsampleDesc& d) {
  const int s = d.scale, OW = d.OW(), planes = d.N * d.C;
#pragma omp parallel for schedule(static) num_threads(threads_for(int64_t(planes) * d.OH() * OW))
  for (int plane = 0; plane < planes; ++plane) {
    const T* dy = dout + int64_t(plane) * d.OH() * OW;
    T* dx = dinp + int64_t(plane) * d.H * d.W;
    for (int i = 0; i < d.H; ++i)
      for (int j = 0; j < d.W; ++j) {
        T sum = T(0);
        for (int a = 0; a < s; ++a)
          for (int b = 0; b < s; ++b) sum += dy[(i * s + a) * OW + j * s + b];
        dx[i * d.W + j] = sum;
      }
  }
}

}  // namespace keynet::cpu::ref
