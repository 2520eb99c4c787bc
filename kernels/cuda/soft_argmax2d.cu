// Soft-argmax on the GPU (kernels/descriptors.h's SoftArgmaxDesc; kernels/cpu/ref/soft_argmax.h is the
// specification): inp (N,K,H,W) scores -> probs (N,K,H,W), the softmax of beta * inp over each map's H*W
// cells, and out (N,2K), each map's expected cell centre (x, y).
//   forward ref: one thread per map, the reference's loops.
//   forward fast: one block per map: the max, then exp and the three sums (mass, mass * x, mass * y), then
//     the normalisation, each reduction by warp shuffles and warp partials in a fixed order (bitwise
//     repeatable); the point is the ratio of the sums.
//   backward: one thread per input element (elementwise once probs and the point are known: shared by
//     both).
// NaN as the reference: the max keeps a NaN (`v > best || isnan(v)`), so a NaN score makes the whole map NaN.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace keynet::cuda {

namespace {

__device__ float cell_centre(int index, int size) {
  return static_cast<float>(2 * index + 1) / static_cast<float>(size) - 1.0f;
}

__device__ float max_or_nan(float best, float v) { return v > best || isnan(v) ? v : best; }

__global__ void soft_argmax2d_forward_ref_kernel(float* out, float* probs, const float* inp, SoftArgmaxDesc d) {
  const int map = blockIdx.x * blockDim.x + threadIdx.x;
  if (map >= d.N * d.K) return;
  const int HW = d.H * d.W;
  const float beta = static_cast<float>(d.beta);
  const float* score = inp + static_cast<int64_t>(map) * HW;
  float* p = probs + static_cast<int64_t>(map) * HW;
  float top = score[0];
  for (int c = 1; c < HW; ++c) top = max_or_nan(top, score[c]);
  float sum = 0.0f;
  for (int c = 0; c < HW; ++c) {
    p[c] = expf(beta * (score[c] - top));
    sum += p[c];
  }
  float x = 0.0f, y = 0.0f;
  for (int i = 0; i < d.H; ++i)
    for (int j = 0; j < d.W; ++j) {
      const float pij = p[i * d.W + j] / sum;
      p[i * d.W + j] = pij;
      x += pij * cell_centre(j, d.W);
      y += pij * cell_centre(i, d.H);
    }
  out[2 * map] = x;
  out[2 * map + 1] = y;
}

// The block's max (NaN kept) in every thread; blockDim.x a multiple of 32, every thread calls it.
__device__ float block_max_or_nan(float value) {
  __shared__ float warp_max[32];
  __shared__ float result;
  for (int offset = 16; offset > 0; offset >>= 1)
    value = max_or_nan(value, __shfl_down_sync(0xffffffffu, value, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_max[warp] = value;
  __syncthreads();
  if (threadIdx.x == 0) {
    float best = warp_max[0];
    for (int w = 1; w < static_cast<int>(blockDim.x) / 32; ++w) best = max_or_nan(best, warp_max[w]);
    result = best;
  }
  __syncthreads();
  return result;
}

// One block of kThreads threads per map; threads take the map's cells with stride kThreads.
__global__ void soft_argmax2d_forward_block_kernel(float* out, float* probs, const float* inp, SoftArgmaxDesc d) {
  __shared__ float total;  // the map's mass, thread 0's, for every thread
  const int map = blockIdx.x, HW = d.H * d.W;
  const float beta = static_cast<float>(d.beta);
  const float* score = inp + static_cast<int64_t>(map) * HW;
  float* p = probs + static_cast<int64_t>(map) * HW;
  float top = -INFINITY;
  for (int c = threadIdx.x; c < HW; c += blockDim.x) top = max_or_nan(top, score[c]);
  top = block_max_or_nan(top);
  float sum = 0.0f, sum_x = 0.0f, sum_y = 0.0f;
  for (int c = threadIdx.x; c < HW; c += blockDim.x) {
    const float e = expf(beta * (score[c] - top));
    p[c] = e;
    sum += e;
    sum_x += e * cell_centre(c % d.W, d.W);
    sum_y += e * cell_centre(c / d.W, d.H);
  }
  sum = block_sum(sum);
  sum_x = block_sum(sum_x);
  sum_y = block_sum(sum_y);
  if (threadIdx.x == 0) {
    total = sum;
    out[2 * map] = sum_x / sum;
    out[2 * map + 1] = sum_y / sum;
  }
  __syncthreads();
  for (int c = threadIdx.x; c < HW; c += blockDim.x) p[c] /= total;  // each thread its own cells
}

// dinp overwritten: beta * p * ((gx(j) - x) dx + (gy(i) - y) dy)
__global__ void soft_argmax2d_backward_kernel(float* dinp, const float* dout, const float* probs, const float* out,
                                              SoftArgmaxDesc d) {
  const int HW = d.H * d.W;
  const int64_t total = static_cast<int64_t>(d.N) * d.K * HW;
  const float beta = static_cast<float>(d.beta);
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t map = idx / HW;
    const int c = idx % HW, i = c / d.W, j = c % d.W;
    const float x = out[2 * map], y = out[2 * map + 1], dx = dout[2 * map], dy = dout[2 * map + 1];
    dinp[idx] = beta * probs[idx] * ((cell_centre(j, d.W) - x) * dx + (cell_centre(i, d.H) - y) * dy);
  }
}

}  // namespace

void ref::soft_argmax2d_forward(float* out, float* probs, const float* inp, const SoftArgmaxDesc& d) {
  soft_argmax2d_forward_ref_kernel<<<blocks_for(static_cast<int64_t>(d.N) * d.K), kThreads>>>(out, probs, inp, d);
  KEYNET_CUDA_LAUNCHED("soft_argmax2d_forward_ref");
}

void fast::soft_argmax2d_forward(float* out, float* probs, const float* inp, const SoftArgmaxDesc& d) {
  soft_argmax2d_forward_block_kernel<<<static_cast<unsigned>(d.N * d.K), kThreads>>>(out, probs, inp, d);
  KEYNET_CUDA_LAUNCHED("soft_argmax2d_forward_fast");
}

void soft_argmax2d_backward(float* dinp, const float* dout, const float* probs, const float* out,
                            const SoftArgmaxDesc& d) {
  soft_argmax2d_backward_kernel<<<blocks_for(static_cast<int64_t>(d.N) * d.K * d.H * d.W), kThreads>>>(
      dinp, dout, probs, out, d);
  KEYNET_CUDA_LAUNCHED("soft_argmax2d_backward");
}

}  // namespace keynet::cuda
