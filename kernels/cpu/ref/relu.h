// ReLU and the residual add (elementwise, any shape, n elements): the reference, and the fast CPU kernel
// too. An elementwise loop has nothing to tune, so, as one CUDA kernel serves cuda::ref and cuda::fast,
// this one template serves CPU Ref (float and double) and Fast: vectorised, threaded when large, and
// bitwise the same at any thread count (each element is computed alone). ReLU propagates NaN as
// PyTorch's does: the forward keeps it, and the backward (threshold_backward(grad, out, 0)) passes the
// gradient wherever the output is not <= 0, a NaN output included.
#pragma once
#include <cstdint>

#include "kernels/cpu/threads.h"

namespace keynet::cpu::ref {

// The rule for one element, also used by the fused batch norm + ReLU (batch_norm2d.h):
// max(y, 0) with NaN kept (`<= 0` is false for NaN)
template <class T>
inline T relu_value(T y) {
  return y <= T(0) ? T(0) : y;
}
// the gradient that passes: dout where out > 0 or out is NaN, else 0 (a select: a NaN dout where out is 0
// is dropped)
template <class T>
inline T relu_grad(T dout, T out) {
  return out <= T(0) ? T(0) : dout;
}

// out (n) = max(inp, 0), NaN kept; out may be inp (ReLU in place)
template <class T>
void relu_forward(T* out, const T* inp, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) out[i] = relu_value(inp[i]);
}

// dinp (n) overwritten: dout where out > 0 or out is NaN, else 0
template <class T>
void relu_backward(T* dinp, const T* dout, const T* out, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) dinp[i] = relu_grad(dout[i], out[i]);
}

// out (n) = a + b; out may alias a or b (each element is read before it is written)
template <class T>
void add(T* out, const T* a, const T* b, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace keynet::cpu::ref
