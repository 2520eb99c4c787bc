// Reference convolution: the definition, one output element at a time. Templated so that gradient
// checks run it in double.
#pragma once
#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

// inp (N,C,H,W), weight (K,C,R,S), bias (K) or null, out (N,K,P,Q)
template <class T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const ops::ConvDesc& d) {
  const int P = d.P(), Q = d.Q();
  for (int n = 0; n < d.N; ++n)
    for (int k = 0; k < d.K; ++k)
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          T sum = bias ? bias[k] : T(0);
          for (int c = 0; c < d.C; ++c)
            for (int r = 0; r < d.R; ++r)
              for (int s = 0; s < d.S; ++s) {
                const int h = p * d.stride - d.pad + r;
                const int w = q * d.stride - d.pad + s;
                if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
                sum += inp[((n * d.C + c) * d.H + h) * d.W + w] * weight[((k * d.C + c) * d.R + r) * d.S + s];
              }
          out[((n * d.K + k) * P + p) * Q + q] = sum;
        }
}

// dinp (N,C,H,W) overwritten (may be null); dweight (K,C,R,S) and dbias (K, may be null) accumulated
template <class T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const ops::ConvDesc& d) {
  const int P = d.P(), Q = d.Q();
  if (dinp)
    for (int i = 0; i < d.N * d.C * d.H * d.W; ++i) dinp[i] = T(0);
  for (int n = 0; n < d.N; ++n)
    for (int k = 0; k < d.K; ++k)
      for (int p = 0; p < P; ++p)
        for (int q = 0; q < Q; ++q) {
          const T g = dout[((n * d.K + k) * P + p) * Q + q];
          if (dbias) dbias[k] += g;
          for (int c = 0; c < d.C; ++c)
            for (int r = 0; r < d.R; ++r)
              for (int s = 0; s < d.S; ++s) {
                const int h = p * d.stride - d.pad + r;
                const int w = q * d.stride - d.pad + s;
                if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
                const int i = ((n * d.C + c) * d.H + h) * d.W + w;
                const int j = ((k * d.C + c) * d.R + r) * d.S + s;
                dweight[j] += g * inp[i];
                if (dinp) dinp[i] += g * weight[j];
              }
        }
}

}  // namespace keynet::cpu::ref
