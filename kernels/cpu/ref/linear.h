// Reference fully connected layer: out = inp @ weight^T + bias (PyTorch's nn.Linear layout).
#pragma once

namespace keynet::cpu::ref {

// inp (N,I), weight (O,I), bias (O) or null, out (N,O)
template <class T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, int N, int I, int O) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      T sum = bias ? bias[o] : T(0);
      for (int i = 0; i < I; ++i) sum += inp[n * I + i] * weight[o * I + i];
      out[n * O + o] = sum;
    }
}

// dinp (N,I) overwritten (may be null); dweight (O,I), dbias (O, may be null) accumulated
template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, int N, int I,
                     int O) {
  if (dinp)
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < I; ++i) {
        T sum = T(0);
        for (int o = 0; o < O; ++o) sum += dout[n * O + o] * weight[o * I + i];
        dinp[n * I + i] = sum;
      }
  for (int o = 0; o < O; ++o) {
    for (int i = 0; i < I; ++i) {
      T sum = T(0);
      for (int n = 0; n < N; ++n) sum += dout[n * O + o] * inp[n * I + i];
      dweight[o * I + i] += sum;
    }
    if (dbias) {
      T sum = T(0);
      for (int n = 0; n < N; ++n) sum += dout[n * O + o];
      dbias[o] += sum;
    }
  }
}

}  // namespace keynet::cpu::ref
