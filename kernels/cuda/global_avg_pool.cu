// Global average pool on the GPU: inp (N,C,H,W) seen as (planes = N*C, HW) -> out (planes).
//   ref: one thread per plane sums its HW values in order.
//   fast: one warp per plane; lanes take strided values and combine by shuffles in a fixed order.
//   backward: one thread per input element (shared by both: nothing to reduce).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace keynet::cuda {

namespace {

__global__ void global_avg_pool_forward_ref_kernel(float* out, const float* inp, int planes, int HW) {
  const int plane = blockIdx.x * blockDim.x + threadIdx.x;
  if (plane >= planes) return;
  float sum = 0.0f;
  for (int i = 0; i < HW; ++i) sum += inp[static_cast<long>(plane) * HW + i];
  out[plane] = sum / static_cast<float>(HW);
}

__global__ void global_avg_pool_forward_warp_kernel(float* out, const float* inp, int planes, int HW) {
  const int plane = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  if (plane >= planes) return;  // whole warps leave together: blockDim is a multiple of 32
  float sum = 0.0f;
  for (int i = lane; i < HW; i += 32) sum += inp[static_cast<long>(plane) * HW + i];
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (lane == 0) out[plane] = sum / static_cast<float>(HW);
}

// dinp overwritten: every element of a plane gets dout / HW
__global__ void global_avg_pool_backward_kernel(float* dinp, const float* dout, int planes, int HW) {
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= static_cast<long>(planes) * HW) return;
  dinp[idx] = dout[idx / HW] / static_cast<float>(HW);
}

}  // namespace

void ref::global_avg_pool_forward(float* out, const float* inp, int planes, int HW) {
  global_avg_pool_forward_ref_kernel<<<blocks_for(planes), kThreads>>>(out, inp, planes, HW);
  KEYNET_CUDA_LAUNCHED("global_avg_pool_forward_ref");
}

void fast::global_avg_pool_forward(float* out, const float* inp, int planes, int HW) {
  global_avg_pool_forward_warp_kernel<<<blocks_for(static_cast<long>(planes) * 32), kThreads>>>(out, inp, planes, HW);
  KEYNET_CUDA_LAUNCHED("global_avg_pool_forward_fast");
}

void global_avg_pool_backward(float* dinp, const float* dout, int planes, int HW) {
  global_avg_pool_backward_kernel<<<blocks_for(static_cast<long>(planes) * HW), kThreads>>>(dinp, dout, planes, HW);
  KEYNET_CUDA_LAUNCHED("global_avg_pool_backward");
}

}  // namespace keynet::cuda
