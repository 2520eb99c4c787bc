// ReLU and the residual add on the GPU: elementwise, any shape, n elements. One thread per element is
// already the fast version (memory bound, nothing to tile), so Impl::Fast and Impl::Ref share these.
// ReLU propagates NaN as kernels/cpu/ref/relu.h does (`<= 0` tests: NaN takes the other branch).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace keynet::cuda {

namespace {

// out may be inp (ReLU in place)
__global__ void relu_forward_kernel(float* out, const float* inp, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = inp[i] <= 0.0f ? 0.0f : inp[i];
}

// dinp overwritten; the gradient passes where the output was positive or NaN
__global__ void relu_backward_kernel(float* dinp, const float* dout, const float* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dinp[i] = out[i] <= 0.0f ? 0.0f : dout[i];
}

// out may alias a or b: each element is read before it is written, by the same thread
__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = a[i] + b[i];
}

}  // namespace

void relu_forward(float* out, const float* inp, int64_t n) {
  relu_forward_kernel<<<blocks_for(n), kThreads>>>(out, inp, n);
  KEYNET_CUDA_LAUNCHED("relu_forward");
}

void relu_backward(float* dinp, const float* dout, const float* out, int64_t n) {
  relu_backward_kernel<<<blocks_for(n), kThreads>>>(dinp, dout, out, n);
  KEYNET_CUDA_LAUNCHED("relu_backward");
}

void add(float* out, const float* a, const float* b, int64_t n) {
  add_kernel<<<blocks_for(n), kThreads>>>(out, a, b, n);
  KEYNET_CUDA_LAUNCHED("add");
}

}  // namespace keynet::cuda
