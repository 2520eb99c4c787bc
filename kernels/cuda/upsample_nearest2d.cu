// Nearest-neighbour upsampling on the GPU by an integer factor s: inp (N,C,H,W) -> out (N,C,H*s,W*s),
// out[n,c,y,x] = inp[n,c,y/s,x/s].
//   forward: one thread per output element (consecutive threads write consecutive outputs).
//   backward: one thread per input element sums its s x s block of dout in row-major order (a gather: no
//     atomics, the same bits every run).
// Both are already the fast version (memory bound, nothing to tile), so Impl::Ref and Impl::Fast share
// them, as the CPU shares kernels/cpu/ref/upsample.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace keynet::cuda {

namespace {

// (UpsampleDesc's OH() and OW() are host functions: the kernels multiply themselves.)
__global__ void upsample_nearest2d_forward_kernel(float* out, const float* inp, UpsampleDesc d) {
  const int OH = d.H * d.scale, OW = d.W * d.scale;
  const int64_t total = static_cast<int64_t>(d.N) * d.C * OH * OW;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ox = idx % OW, oy = (idx / OW) % OH;
    const int64_t plane = idx / (static_cast<int64_t>(OH) * OW);
    out[idx] = inp[(plane * d.H + oy / d.scale) * d.W + ox / d.scale];
  }
}

// dinp overwritten: the sum of the element's s x s block of dout
__global__ void upsample_nearest2d_backward_kernel(float* dinp, const float* dout, UpsampleDesc d) {
  const int s = d.scale, OH = d.H * s, OW = d.W * s;
  const int64_t total = static_cast<int64_t>(d.N) * d.C * d.H * d.W;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int j = idx % d.W, i = (idx / d.W) % d.H;
    const int64_t plane = idx / (static_cast<int64_t>(d.H) * d.W);
    const float* block = dout + (plane * OH + static_cast<int64_t>(i) * s) * OW + static_cast<int64_t>(j) * s;
    float sum = 0.0f;
    for (int a = 0; a < s; ++a)
      for (int b = 0; b < s; ++b) sum += block[static_cast<int64_t>(a) * OW + b];
    dinp[idx] = sum;
  }
}

}  // namespace

void upsample_nearest2d_forward(float* out, const float* inp, const UpsampleDesc& d) {
  const int64_t total = static_cast<int64_t>(d.N) * d.C * d.OH() * d.OW();
  upsample_nearest2d_forward_kernel<<<blocks_for(total), kThreads>>>(out, inp, d);
  KEYNET_CUDA_LAUNCHED("upsample_nearest2d_forward");
}

void upsample_nearest2d_backward(float* dinp, const float* dout, const UpsampleDesc& d) {
  const int64_t total = static_cast<int64_t>(d.N) * d.C * d.H * d.W;
  upsample_nearest2d_backward_kernel<<<blocks_for(total), kThreads>>>(dinp, dout, d);
  KEYNET_CUDA_LAUNCHED("upsample_nearest2d_backward");
}

}  // namespace keynet::cuda
