// Max pooling on the GPU. inp (N,C,H,W), out (N,C,P,Q). A window's winner is its first maximum in
// row-major order, or its last NaN if it holds one (PyTorch's rule), and padding never wins, exactly as
// kernels/cpu/ref/max_pool2d.h.
//   forward: one thread per output (already the fast version: shared by Ref and Fast).
//   backward ref: one thread per input element; it recomputes the winner of every window that
//     covers it and sums the gradients of the windows it won, in (p, q) order (no atomics).
//   backward fast: the same gather, but the winners are computed once per window into a scratch
//     buffer first, instead of once per covering input element.
#include <cfloat>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "tensor/storage.h"

namespace keynet::cuda {

namespace {

struct PoolShape {
  int N, C, H, W, kernel, stride, pad, P, Q;
};
PoolShape shape_of(const PoolDesc& d) { return {d.N, d.C, d.H, d.W, d.kernel, d.stride, d.pad, d.P(), d.Q()}; }

// Index within the (n,c) plane of window (p, q)'s winner, or -1 if the window is all padding.
__device__ int window_argmax(const float* plane, int p, int q, const PoolShape& d) {
  int best = -1;
  float best_value = -INFINITY;
  for (int r = 0; r < d.kernel; ++r)
    for (int s = 0; s < d.kernel; ++s) {
      const int h = p * d.stride - d.pad + r, w = q * d.stride - d.pad + s;
      if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
      const float v = plane[h * d.W + w];
      if (best < 0 || v > best_value || isnan(v)) {
        best = h * d.W + w;
        best_value = v;
      }
    }
  return best;
}

__global__ void max_pool2d_forward_kernel(float* out, const float* inp, PoolShape d) {
  const long total = static_cast<long>(d.N) * d.C * d.P * d.Q;
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int q = idx % d.Q, p = (idx / d.Q) % d.P;
  const long plane = idx / (static_cast<long>(d.P) * d.Q);
  const float* x = inp + plane * d.H * d.W;
  const int best = window_argmax(x, p, q, d);
  out[idx] = best < 0 ? -INFINITY : x[best];
}

// The output rows p whose window covers input row h: p*stride - pad <= h <= p*stride - pad + kernel - 1.
__device__ void covering(int h, int stride, int pad, int kernel, int P, int& lo, int& hi) {
  const int top = h + pad - kernel + 1;  // p*stride >= top
  lo = top <= 0 ? 0 : (top + stride - 1) / stride;
  hi = min(P - 1, (h + pad) / stride);
}

__global__ void max_pool2d_backward_ref_kernel(float* dinp, const float* dout, const float* inp, PoolShape d) {
  const long total = static_cast<long>(d.N) * d.C * d.H * d.W;
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int hw = idx % (d.H * d.W), h = hw / d.W, w = hw % d.W;
  const long plane = idx / (static_cast<long>(d.H) * d.W);
  const float* x = inp + plane * d.H * d.W;
  int p_lo, p_hi, q_lo, q_hi;
  covering(h, d.stride, d.pad, d.kernel, d.P, p_lo, p_hi);
  covering(w, d.stride, d.pad, d.kernel, d.Q, q_lo, q_hi);
  float sum = 0.0f;
  for (int p = p_lo; p <= p_hi; ++p)
    for (int q = q_lo; q <= q_hi; ++q)
      if (window_argmax(x, p, q, d) == hw) sum += dout[(plane * d.P + p) * d.Q + q];
  dinp[idx] = sum;
}

__global__ void max_pool2d_argmax_kernel(int* winners, const float* inp, PoolShape d) {
  const long total = static_cast<long>(d.N) * d.C * d.P * d.Q;
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int q = idx % d.Q, p = (idx / d.Q) % d.P;
  const long plane = idx / (static_cast<long>(d.P) * d.Q);
  winners[idx] = window_argmax(inp + plane * d.H * d.W, p, q, d);
}

__global__ void max_pool2d_backward_gather_kernel(float* dinp, const float* dout, const int* winners, PoolShape d) {
  const long total = static_cast<long>(d.N) * d.C * d.H * d.W;
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int hw = idx % (d.H * d.W), h = hw / d.W, w = hw % d.W;
  const long plane = idx / (static_cast<long>(d.H) * d.W);
  int p_lo, p_hi, q_lo, q_hi;
  covering(h, d.stride, d.pad, d.kernel, d.P, p_lo, p_hi);
  covering(w, d.stride, d.pad, d.kernel, d.Q, q_lo, q_hi);
  float sum = 0.0f;
  for (int p = p_lo; p <= p_hi; ++p)
    for (int q = q_lo; q <= q_hi; ++q) {
      const long j = (plane * d.P + p) * d.Q + q;
      if (winners[j] == hw) sum += dout[j];
    }
  dinp[idx] = sum;
}

}  // namespace

void max_pool2d_forward(float* out, const float* inp, const PoolDesc& desc) {
  const PoolShape d = shape_of(desc);
  max_pool2d_forward_kernel<<<blocks_for(static_cast<long>(d.N) * d.C * d.P * d.Q), kThreads>>>(out, inp, d);
  KEYNET_CUDA_LAUNCHED("max_pool2d_forward");
}

void ref::max_pool2d_backward(float* dinp, const float* dout, const float* inp, const PoolDesc& desc) {
  const PoolShape d = shape_of(desc);
  max_pool2d_backward_ref_kernel<<<blocks_for(static_cast<long>(d.N) * d.C * d.H * d.W), kThreads>>>(dinp, dout,
                                                                                                        inp, d);
  KEYNET_CUDA_LAUNCHED("max_pool2d_backward_ref");
}

void fast::max_pool2d_backward(float* dinp, const float* dout, const float* inp, const PoolDesc& desc) {
  const PoolShape d = shape_of(desc);
  const long outputs = static_cast<long>(d.N) * d.C * d.P * d.Q;
  Storage winners(outputs * sizeof(int), Device::CUDA);
  int* winner_index = static_cast<int*>(winners.data());
  max_pool2d_argmax_kernel<<<blocks_for(outputs), kThreads>>>(winner_index, inp, d);
  KEYNET_CUDA_LAUNCHED("max_pool2d_argmax");
  max_pool2d_backward_gather_kernel<<<blocks_for(static_cast<long>(d.N) * d.C * d.H * d.W), kThreads>>>(
      dinp, dout, winner_index, d);
  KEYNET_CUDA_LAUNCHED("max_pool2d_backward_gather");
}

}  // namespace keynet::cuda
