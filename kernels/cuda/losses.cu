// Losses on the GPU, mean over all n elements (PyTorch's reduction='mean'); the loss is written to a
// 1-element device buffer, so a training step never waits for the host.
//   ref forward: a single thread sums every term in order.
//   fast forward: a fixed number of blocks (a function of n only) write block sums, and one block
//     adds those in a fixed order: bitwise repeatable, no atomics.
//   backward: one thread per element (shared by both).
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "tensor/tensor.h"

namespace keynet::cuda {

namespace {

struct SquaredError {
  __device__ float operator()(float p, float t) const { return (p - t) * (p - t); }
};
struct AbsoluteError {
  __device__ float operator()(float p, float t) const { return fabsf(p - t); }
};
struct WingError {  // kernels/descriptors.h's WingDesc
  float w, epsilon, c;
  __device__ float operator()(float p, float t) const {
    const float x = fabsf(p - t);
    return x < w ? w * log1pf(x / epsilon) : x - c;
  }
};

template <class Term>
__global__ void loss_serial_kernel(float* loss, const float* pred, const float* target, int64_t n, Term term) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += term(pred[i], target[i]);
  loss[0] = sum / static_cast<float>(n);
}

template <class Term>
__global__ void loss_partial_kernel(float* partials, const float* pred, const float* target, int64_t n, Term term) {
  float sum = 0.0f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    sum += term(pred[i], target[i]);
  sum = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

__global__ void loss_finish_kernel(float* loss, const float* partials, int count, int64_t n) {
  float sum = 0.0f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
  sum = block_sum(sum);
  if (threadIdx.x == 0) loss[0] = sum / static_cast<float>(n);
}

template <class Term>
void loss_fast(float* loss, const float* pred, const float* target, int64_t n, Term term, const char* name) {
  const int blocks = static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 1024));
  Tensor partials = Tensor::empty({blocks}, Device::CUDA);
  loss_partial_kernel<<<blocks, kThreads>>>(partials.data<float>(), pred, target, n, term);
  KEYNET_CUDA_LAUNCHED(name);
  loss_finish_kernel<<<1, 1024>>>(loss, partials.data<float>(), blocks, n);
  KEYNET_CUDA_LAUNCHED(name);
}

// dpred overwritten: dloss * 2 (pred - target) / n
__global__ void mse_loss_backward_kernel(float* dpred, const float* pred, const float* target, float dloss,
                                         int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dpred[i] = dloss * 2.0f * (pred[i] - target[i]) / static_cast<float>(n);
}

// dpred overwritten: dloss * sign(pred - target) / n, sign(0) = 0 as in PyTorch
__global__ void l1_loss_backward_kernel(float* dpred, const float* pred, const float* target, float dloss,
                                        int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float diff = pred[i] - target[i];
    const float sign = diff > 0.0f ? 1.0f : (diff < 0.0f ? -1.0f : 0.0f);
    dpred[i] = dloss * sign / static_cast<float>(n);
  }
}

// dpred overwritten: dloss * sign(x) * (|x| < w ? w / (epsilon + |x|) : 1) / n, x = pred - target, sign(0) = 0
__global__ void wing_loss_backward_kernel(float* dpred, const float* pred, const float* target, float w,
                                          float epsilon, float dloss, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float diff = pred[i] - target[i], x = fabsf(diff);
    const float sign = diff > 0.0f ? 1.0f : (diff < 0.0f ? -1.0f : 0.0f);
    dpred[i] = dloss * sign * (x < w ? w / (epsilon + x) : 1.0f) / static_cast<float>(n);
  }
}

WingError wing_error(const ops::WingDesc& d) {
  return {static_cast<float>(d.w), static_cast<float>(d.epsilon), static_cast<float>(d.c())};
}

}  // namespace

void ref::mse_loss_forward(float* loss, const float* pred, const float* target, int64_t n) {
  loss_serial_kernel<<<1, 1>>>(loss, pred, target, n, SquaredError{});
  KEYNET_CUDA_LAUNCHED("mse_loss_forward_ref");
}

void fast::mse_loss_forward(float* loss, const float* pred, const float* target, int64_t n) {
  loss_fast(loss, pred, target, n, SquaredError{}, "mse_loss_forward_fast");
}

void mse_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n) {
  mse_loss_backward_kernel<<<blocks_for(n), kThreads>>>(dpred, pred, target, dloss, n);
  KEYNET_CUDA_LAUNCHED("mse_loss_backward");
}

void ref::l1_loss_forward(float* loss, const float* pred, const float* target, int64_t n) {
  loss_serial_kernel<<<1, 1>>>(loss, pred, target, n, AbsoluteError{});
  KEYNET_CUDA_LAUNCHED("l1_loss_forward_ref");
}

void fast::l1_loss_forward(float* loss, const float* pred, const float* target, int64_t n) {
  loss_fast(loss, pred, target, n, AbsoluteError{}, "l1_loss_forward_fast");
}

void l1_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n) {
  l1_loss_backward_kernel<<<blocks_for(n), kThreads>>>(dpred, pred, target, dloss, n);
  KEYNET_CUDA_LAUNCHED("l1_loss_backward");
}

void ref::wing_loss_forward(float* loss, const float* pred, const float* target, const ops::WingDesc& d, int64_t n) {
  loss_serial_kernel<<<1, 1>>>(loss, pred, target, n, wing_error(d));
  KEYNET_CUDA_LAUNCHED("wing_loss_forward_ref");
}

void fast::wing_loss_forward(float* loss, const float* pred, const float* target, const ops::WingDesc& d, int64_t n) {
  loss_fast(loss, pred, target, n, wing_error(d), "wing_loss_forward_fast");
}

void wing_loss_backward(float* dpred, const float* pred, const float* target, const ops::WingDesc& d, float dloss,
                        int64_t n) {
  wing_loss_backward_kernel<<<blocks_for(n), kThreads>>>(dpred, pred, target, static_cast<float>(d.w),
                                                         static_cast<float>(d.epsilon), dloss, n);
  KEYNET_CUDA_LAUNCHED("wing_loss_backward");
}

}  // namespace keynet::cuda
