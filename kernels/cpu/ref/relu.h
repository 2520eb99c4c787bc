// Reference ReLU and residual add (elementwise, any shape, n elements). ReLU propagates NaN as PyTorch's
// does: the forward keeps it, and the backward (threshold_backward(grad, out, 0)) passes the gradient
// wherever the output is not <= 0, a NaN output included.
#pragma once
#include <cstdint>

namespace keynet::cpu::ref {

template <class T>
void relu_forward(T* out, const T* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = inp[i] <= T(0) ? T(0) : inp[i];
}

// dinp overwritten; the gradient passes where the output was positive or NaN
template <class T>
void relu_backward(T* dinp, const T* dout, const T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dinp[i] = out[i] <= T(0) ? T(0) : dout[i];
}

template <class T>
void add(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace keynet::cpu::ref
