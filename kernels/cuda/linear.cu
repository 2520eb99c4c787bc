// Fully connected layer on the GPU: inp (N,I), weight (O,I), bias (O), out (N,O) = inp @ weight^T + bias.
//   ref: one thread per output element of each direction.
//   fast: our SGEMM (gemm.cuh) on strided views, no transposes materialised:
//     out (N x O)     = inp (N x I)       * weight^T (I x O)   + bias
//     dinp (N x I)    = dout (N x O)      * weight (O x I)
//     dweight (O x I) += dout^T (O x N)   * inp (N x I)          (split-K where gemm_plan finds it pays)
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/kernels.h"

namespace keynet::cuda {

namespace {

__global__ void linear_forward_ref_kernel(float* out, const float* inp, const float* weight, const float* bias,
                                            int N, int I, int O) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= N * O) return;
  const int n = idx / O, o = idx % O;
  float sum = bias ? bias[o] : 0.0f;
  for (int i = 0; i < I; ++i) sum += inp[n * I + i] * weight[o * I + i];
  out[idx] = sum;
}

__global__ void linear_backward_data_ref_kernel(float* dinp, const float* dout, const float* weight, int N, int I,
                                                  int O) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= N * I) return;
  const int n = idx / I, i = idx % I;
  float sum = 0.0f;
  for (int o = 0; o < O; ++o) sum += dout[n * O + o] * weight[o * I + i];
  dinp[idx] = sum;
}

__global__ void linear_backward_weight_ref_kernel(float* dweight, const float* dout, const float* inp, int N, int I,
                                                    int O) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= O * I) return;
  const int o = idx / I, i = idx % I;
  float sum = 0.0f;
  for (int n = 0; n < N; ++n) sum += dout[n * O + o] * inp[n * I + i];
  dweight[idx] += sum;
}

// one thread per output feature, summing the batch in order (the batch is short)
__global__ void linear_bias_grad_kernel(float* dbias, const float* dout, int N, int O) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= O) return;
  float sum = 0.0f;
  for (int n = 0; n < N; ++n) sum += dout[n * O + o];
  dbias[o] += sum;
}

__global__ void linear_fill_bias_kernel(float* out, const float* bias, int N, int O) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx < N * O) out[idx] = bias[idx % O];
}

// C(m, n) = value + column_bias(n) into a row-major matrix with N columns.
struct MatrixStore {
  float* c;
  const float* column_bias;
  int N;
  __device__ void operator()(int m, int n, int, float value) const {
    c[static_cast<long>(m) * N + n] = column_bias ? value + column_bias[n] : value;
  }
};

void check_linear_sizes(int N, int I, int O, const char* op) {
  check_int_indexable(op, "input", static_cast<int64_t>(N) * I);
  check_int_indexable(op, "output", static_cast<int64_t>(N) * O);
  check_int_indexable(op, "weight", static_cast<int64_t>(O) * I);
}

}  // namespace

void ref::linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O) {
  check_linear_sizes(N, I, O, "linear_forward");
  linear_forward_ref_kernel<<<blocks_for(static_cast<long>(N) * O), kThreads>>>(out, inp, weight, bias, N, I, O);
  KEYNET_CUDA_LAUNCHED("linear_forward_ref");
}

void ref::linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, int N, int I, int O) {
  check_linear_sizes(N, I, O, "linear_backward");
  if (dinp) {
    linear_backward_data_ref_kernel<<<blocks_for(static_cast<long>(N) * I), kThreads>>>(dinp, dout, weight, N, I, O);
    KEYNET_CUDA_LAUNCHED("linear_backward_data_ref");
  }
  linear_backward_weight_ref_kernel<<<blocks_for(static_cast<long>(O) * I), kThreads>>>(dweight, dout, inp, N, I, O);
  KEYNET_CUDA_LAUNCHED("linear_backward_weight_ref");
  if (dbias) linear_bias_grad(dbias, dout, N, O);
}

void linear_bias_grad(float* dbias, const float* dout, int N, int O) {
  linear_bias_grad_kernel<<<blocks_for(O), kThreads>>>(dbias, dout, N, O);
  KEYNET_CUDA_LAUNCHED("linear_bias_grad");
}

void linear_fill_bias(float* out, const float* bias, int N, int O) {
  linear_fill_bias_kernel<<<blocks_for(static_cast<long>(N) * O), kThreads>>>(out, bias, N, O);
  KEYNET_CUDA_LAUNCHED("linear_fill_bias");
}

void fast::linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O) {
  check_linear_sizes(N, I, O, "linear_forward");
  gemm(StridedLoad<true>{inp, N, I, 1}, StridedLoad<true>{weight, O, I, 1}, MatrixStore{out, bias, O}, N, O, I,
       "linear_forward_fast");
}

void fast::linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, int N, int I, int O) {
  check_linear_sizes(N, I, O, "linear_backward");
  if (dinp)
    gemm(StridedLoad<true>{dout, N, O, 1}, StridedLoad<false>{weight, I, 1, I}, MatrixStore{dinp, nullptr, I}, N, I, O,
         "linear_backward_data_fast");
  gemm(StridedLoad<false>{dout, O, 1, O}, StridedLoad<false>{inp, I, 1, I}, AccumulateStore{dweight, I}, O, I, N,
       "linear_backward_weight_fast");
  if (dbias) linear_bias_grad(dbias, dout, N, O);
}

}  // namespace keynet::cuda
