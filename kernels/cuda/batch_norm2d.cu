// Batch normalisation on the GPU, PyTorch semantics as kernels/cpu/ref/batch_norm2d.h: per channel
// over M = N*HW values; normalise with the biased variance, update running_var with the unbiased one,
// save mean and invstd = 1/sqrt(var + eps). inp, out (N,C,HW); per-channel vectors (C).
//   ref: one thread per channel computes its statistics serially, then one thread per element.
//   fast: every channel's N*HW values are cut into chunks (a count that depends on the shape only);
//     one block per (chunk, channel) writes a block sum, and one thread per channel adds the chunk
//     sums in order. Two passes (mean, then centred squares) as in the reference: bitwise repeatable,
//     no atomics, no cancellation from E[x^2] - E[x]^2.
// batch_norm2d_relu_*: the same kernels with ReLU fused (template Relu): the normalising kernel applies
// it as it writes out, the backward kernels apply its mask (the gradient passes where out > 0 or out is
// NaN, as relu.cu) as they read dout, so the fused op costs batch norm's passes and no more.
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "tensor/tensor.h"

namespace keynet::cuda {

namespace {

__device__ long element_index(long e, int c, int C, int HW) {  // e-th value of channel c
  const long n = e / HW;
  return (n * C + c) * HW + (e - n * HW);
}

// y, with ReLU when Relu: max(y, 0), NaN kept (`<= 0` is false for NaN, as relu.cu)
template <bool Relu>
__device__ float activate(float y) {
  return Relu ? (y <= 0.0f ? 0.0f : y) : y;
}

// The output gradient batch norm sees: dout, or with ReLU dout where out > 0 or NaN, else 0 (a select)
template <bool Relu>
__device__ float masked(const float* dout, const float* out, long j) {
  return Relu ? (out[j] <= 0.0f ? 0.0f : dout[j]) : dout[j];
}

// ---- ref

__global__ void bn_statistics_ref_kernel(float* save_mean, float* save_invstd, float* running_mean,
                                           float* running_var, const float* inp, int N, int C, int HW, float eps,
                                           float momentum) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const long M = static_cast<long>(N) * HW;
  float sum = 0.0f;
  for (long e = 0; e < M; ++e) sum += inp[element_index(e, c, C, HW)];
  const float mean = sum / static_cast<float>(M);
  float squares = 0.0f;
  for (long e = 0; e < M; ++e) {
    const float centred = inp[element_index(e, c, C, HW)] - mean;
    squares += centred * centred;
  }
  const float var = squares / static_cast<float>(M);
  save_mean[c] = mean;
  save_invstd[c] = 1.0f / sqrtf(var + eps);
  const float unbiased_var = M > 1 ? squares / static_cast<float>(M - 1) : var;
  running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
  running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased_var;
}

// out = (x - mean) * invstd * gamma + beta with per-channel mean and invstd (then ReLU when Relu)
template <bool Relu>
__global__ void bn_normalise_kernel(float* out, const float* inp, const float* mean, const float* invstd,
                                    const float* gamma, const float* beta, long total, int C, int HW) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long>(gridDim.x) * blockDim.x) {
    const int c = (i / HW) % C;
    out[i] = activate<Relu>((inp[i] - mean[c]) * invstd[c] * gamma[c] + beta[c]);
  }
}

template <bool Relu>
__global__ void bn_eval_kernel(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, long total, int C, int HW,
                               float eps) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long>(gridDim.x) * blockDim.x) {
    const int c = (i / HW) % C;
    const float invstd = 1.0f / sqrtf(running_var[c] + eps);
    out[i] = activate<Relu>((inp[i] - running_mean[c]) * invstd * gamma[c] + beta[c]);
  }
}

// sums[c] = sum dy, sums[C + c] = sum dy * xhat; dgamma += the second, dbeta += the first. dy: masked<Relu>
template <bool Relu>
__global__ void bn_backward_sums_ref_kernel(float* sums, float* dgamma, float* dbeta, const float* dout,
                                              const float* out, const float* inp, const float* save_mean,
                                              const float* save_invstd, int N, int C, int HW) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const long M = static_cast<long>(N) * HW;
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  for (long e = 0; e < M; ++e) {
    const long j = element_index(e, c, C, HW);
    const float dy = masked<Relu>(dout, out, j);
    sum_dy += dy;
    sum_dy_xhat += dy * (inp[j] - save_mean[c]) * save_invstd[c];
  }
  sums[c] = sum_dy;
  sums[C + c] = sum_dy_xhat;
  dgamma[c] += sum_dy_xhat;
  dbeta[c] += sum_dy;
}

// dinp = gamma * invstd / M * (M * dy - sum dy - xhat * sum dy*xhat), overwritten; dy: masked<Relu>
template <bool Relu>
__global__ void bn_backward_data_kernel(float* dinp, const float* dout, const float* out, const float* inp,
                                        const float* gamma, const float* save_mean, const float* save_invstd,
                                        const float* sums, long total, int C, int HW, float M) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long>(gridDim.x) * blockDim.x) {
    const int c = (i / HW) % C;
    const float scale = gamma[c] * save_invstd[c] / M;
    const float xhat = (inp[i] - save_mean[c]) * save_invstd[c];
    dinp[i] = scale * (M * masked<Relu>(dout, out, i) - sums[c] - xhat * sums[C + c]);
  }
}

// ---- fast: chunked per-channel reductions

constexpr long kChunk = 16384;  // values of one channel per block

// The fast kernels put channels on the grid's y dimension; also refuses a C past it.
int chunk_count(const BatchNormDesc& d, const char* op) {
  KEYNET_CHECK(d.C <= kMaxGridY, op, ": ", d.C, " channels, more than the fast CUDA batch norm handles (",
               kMaxGridY, ", the grid's y dimension); use impl=ref or impl=vendor");
  const long M = static_cast<long>(d.N) * d.HW;
  return static_cast<int>(std::clamp((M + kChunk - 1) / kChunk, 1L, 256L));
}

// partials[c * chunks + chunk] = sum over the chunk of value(x) (value: x, or (x - mean[c])^2)
template <bool Centred>
__global__ void bn_chunk_sum_kernel(float* partials, const float* inp, const float* mean, int N, int C, int HW) {
  const int chunk = blockIdx.x, chunks = gridDim.x, c = blockIdx.y;
  const long M = static_cast<long>(N) * HW;
  const long per_chunk = (M + chunks - 1) / chunks;
  const long begin = chunk * per_chunk, end = min(M, begin + per_chunk);
  const float centre = Centred ? mean[c] : 0.0f;
  float sum = 0.0f;
  for (long e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const float x = inp[element_index(e, c, C, HW)];
    sum += Centred ? (x - centre) * (x - centre) : x;
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) partials[c * chunks + chunk] = sum;
}

__global__ void bn_mean_kernel(float* save_mean, const float* partials, int chunks, int C, float M) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float sum = 0.0f;
  for (int i = 0; i < chunks; ++i) sum += partials[c * chunks + i];
  save_mean[c] = sum / M;
}

__global__ void bn_variance_kernel(float* save_invstd, float* running_mean, float* running_var,
                                   const float* save_mean, const float* partials, int chunks, int C, long M,
                                   float eps, float momentum) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float squares = 0.0f;
  for (int i = 0; i < chunks; ++i) squares += partials[c * chunks + i];
  const float var = squares / static_cast<float>(M);
  save_invstd[c] = 1.0f / sqrtf(var + eps);
  const float unbiased_var = M > 1 ? squares / static_cast<float>(M - 1) : var;
  running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * save_mean[c];
  running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased_var;
}

// partials[c * chunks + chunk] = sum dy, partials[(C + c) * chunks + chunk] = sum dy * xhat; dy: masked<Relu>
template <bool Relu>
__global__ void bn_backward_chunk_kernel(float* partials, const float* dout, const float* out, const float* inp,
                                         const float* save_mean, const float* save_invstd, int N, int C, int HW) {
  const int chunk = blockIdx.x, chunks = gridDim.x, c = blockIdx.y;
  const long M = static_cast<long>(N) * HW;
  const long per_chunk = (M + chunks - 1) / chunks;
  const long begin = chunk * per_chunk, end = min(M, begin + per_chunk);
  const float mean = save_mean[c], invstd = save_invstd[c];
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  for (long e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const long j = element_index(e, c, C, HW);
    const float dy = masked<Relu>(dout, out, j);
    sum_dy += dy;
    sum_dy_xhat += dy * (inp[j] - mean) * invstd;
  }
  sum_dy = block_sum(sum_dy);
  sum_dy_xhat = block_sum(sum_dy_xhat);
  if (threadIdx.x == 0) {
    partials[c * chunks + chunk] = sum_dy;
    partials[(C + c) * chunks + chunk] = sum_dy_xhat;
  }
}

__global__ void bn_backward_finish_kernel(float* sums, float* dgamma, float* dbeta, const float* partials, int chunks,
                                          int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  for (int i = 0; i < chunks; ++i) {
    sum_dy += partials[c * chunks + i];
    sum_dy_xhat += partials[(C + c) * chunks + i];
  }
  sums[c] = sum_dy;
  sums[C + c] = sum_dy_xhat;
  dgamma[c] += sum_dy_xhat;
  dbeta[c] += sum_dy;
}

// ---- batch norm over ranks (ops.h): the fast kernels above, split where the ranks' sums are taken

__global__ void bn_mean_from_sum_kernel(float* mean, const float* total_sum, int C, float count) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c < C) mean[c] = total_sum[c] / count;
}

__global__ void bn_partials_finish_kernel(float* sums, const float* partials, int chunks, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float sum = 0.0f;
  for (int i = 0; i < chunks; ++i) sum += partials[c * chunks + i];
  sums[c] = sum;
}

__global__ void bn_stats_from_sums_kernel(float* save_mean, float* save_invstd, float* running_mean,
                                          float* running_var, const float* total_sum, const float* total_squares,
                                          int C, double count, float eps, float momentum) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const float mean = total_sum[c] / static_cast<float>(count), var = total_squares[c] / static_cast<float>(count);
  save_mean[c] = mean;
  save_invstd[c] = 1.0f / sqrtf(var + eps);
  const float unbiased_var = count > 1 ? total_squares[c] / static_cast<float>(count - 1) : var;
  running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
  running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased_var;
}

// The launchers, each direction once with Relu a template argument; the public functions below pick it.
template <bool Relu>
void forward_train_ref(float* out, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                       const float* inp, const float* gamma, const float* beta, const BatchNormDesc& d) {
  bn_statistics_ref_kernel<<<blocks_for(d.C), kThreads>>>(save_mean, save_invstd, running_mean, running_var, inp,
                                                             d.N, d.C, d.HW, static_cast<float>(d.eps),
                                                             static_cast<float>(d.momentum));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_statistics_ref");
  const long total = static_cast<long>(d.N) * d.C * d.HW;
  bn_normalise_kernel<Relu><<<blocks_for(total), kThreads>>>(out, inp, save_mean, save_invstd, gamma, beta, total,
                                                              d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_normalise");
}

template <bool Relu>
void forward_train_fast(float* out, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                        const float* inp, const float* gamma, const float* beta, const BatchNormDesc& d,
                        const char* op) {
  const int chunks = chunk_count(d, op);
  const long M = static_cast<long>(d.N) * d.HW;
  Tensor partials = Tensor::empty({static_cast<int64_t>(chunks) * d.C}, Device::CUDA);
  const dim3 grid(chunks, d.C);
  bn_chunk_sum_kernel<false><<<grid, kThreads>>>(partials.data<float>(), inp, nullptr, d.N, d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_chunk_sum");
  bn_mean_kernel<<<blocks_for(d.C), kThreads>>>(save_mean, partials.data<float>(), chunks, d.C,
                                                 static_cast<float>(M));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_mean");
  bn_chunk_sum_kernel<true><<<grid, kThreads>>>(partials.data<float>(), inp, save_mean, d.N, d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_chunk_squares");
  bn_variance_kernel<<<blocks_for(d.C), kThreads>>>(save_invstd, running_mean, running_var, save_mean,
                                                     partials.data<float>(), chunks, d.C, M,
                                                     static_cast<float>(d.eps), static_cast<float>(d.momentum));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_variance");
  const long total = static_cast<long>(d.N) * d.C * d.HW;
  bn_normalise_kernel<Relu><<<blocks_for(total), kThreads>>>(out, inp, save_mean, save_invstd, gamma, beta, total,
                                                              d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_normalise");
}

template <bool Relu>
void forward_eval(float* out, const float* inp, const float* gamma, const float* beta, const float* running_mean,
                  const float* running_var, const BatchNormDesc& d) {
  const long total = static_cast<long>(d.N) * d.C * d.HW;
  bn_eval_kernel<Relu><<<blocks_for(total), kThreads>>>(out, inp, gamma, beta, running_mean, running_var, total, d.C,
                                                         d.HW, static_cast<float>(d.eps));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_forward_eval");
}

// out: the forward's output with Relu, else unused (null)
template <bool Relu>
void backward_ref(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp, const float* out,
                  const float* gamma, const float* save_mean, const float* save_invstd, const BatchNormDesc& d) {
  Tensor sums = Tensor::empty({2 * d.C}, Device::CUDA);
  bn_backward_sums_ref_kernel<Relu><<<blocks_for(d.C), kThreads>>>(sums.data<float>(), dgamma, dbeta, dout, out, inp,
                                                                      save_mean, save_invstd, d.N, d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_sums_ref");
  const long total = static_cast<long>(d.N) * d.C * d.HW;
  bn_backward_data_kernel<Relu><<<blocks_for(total), kThreads>>>(dinp, dout, out, inp, gamma, save_mean, save_invstd,
                                                                  sums.data<float>(), total, d.C, d.HW,
                                                                  static_cast<float>(static_cast<double>(d.N) * d.HW));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_data");
}

template <bool Relu>
void backward_fast(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp, const float* out,
                   const float* gamma, const float* save_mean, const float* save_invstd, const BatchNormDesc& d,
                   const char* op) {
  const int chunks = chunk_count(d, op);
  Tensor partials = Tensor::empty({2 * static_cast<int64_t>(chunks) * d.C}, Device::CUDA);
  Tensor sums = Tensor::empty({2 * d.C}, Device::CUDA);
  bn_backward_chunk_kernel<Relu><<<dim3(chunks, d.C), kThreads>>>(partials.data<float>(), dout, out, inp, save_mean,
                                                                  save_invstd, d.N, d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_chunk");
  bn_backward_finish_kernel<<<blocks_for(d.C), kThreads>>>(sums.data<float>(), dgamma, dbeta,
                                                            partials.data<float>(), chunks, d.C);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_finish");
  const long total = static_cast<long>(d.N) * d.C * d.HW;
  bn_backward_data_kernel<Relu><<<blocks_for(total), kThreads>>>(dinp, dout, out, inp, gamma, save_mean, save_invstd,
                                                                  sums.data<float>(), total, d.C, d.HW,
                                                                  static_cast<float>(static_cast<double>(d.N) * d.HW));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_data");
}

}  // namespace

// ---- batch norm
void ref::batch_norm2d_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                      float* running_var, const float* inp, const float* gamma, const float* beta,
                                      const BatchNormDesc& d) {
  forward_train_ref<false>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d);
}

void fast::batch_norm2d_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const float* inp, const float* gamma, const float* beta,
                                     const BatchNormDesc& d) {
  forward_train_fast<false>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d,
                            "batch_norm2d_forward_train");
}

void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const BatchNormDesc& d) {
  forward_eval<false>(out, inp, gamma, beta, running_mean, running_var, d);
}

void ref::batch_norm2d_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                 const float* gamma, const float* save_mean, const float* save_invstd,
                                 const BatchNormDesc& d) {
  backward_ref<false>(dinp, dgamma, dbeta, dout, inp, nullptr, gamma, save_mean, save_invstd, d);
}

void fast::batch_norm2d_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* gamma, const float* save_mean, const float* save_invstd,
                                const BatchNormDesc& d) {
  backward_fast<false>(dinp, dgamma, dbeta, dout, inp, nullptr, gamma, save_mean, save_invstd, d,
                       "batch_norm2d_backward");
}

// ---- batch norm + ReLU: out = relu(BN(x)); the backward takes the forward's out for the mask
void ref::batch_norm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                           float* running_var, const float* inp, const float* gamma,
                                           const float* beta, const BatchNormDesc& d) {
  forward_train_ref<true>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d);
}

void fast::batch_norm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                            float* running_var, const float* inp, const float* gamma,
                                            const float* beta, const BatchNormDesc& d) {
  forward_train_fast<true>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d,
                           "batch_norm2d_relu_forward_train");
}

void batch_norm2d_relu_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var, const BatchNormDesc& d) {
  forward_eval<true>(out, inp, gamma, beta, running_mean, running_var, d);
}

void ref::batch_norm2d_relu_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                      const float* out, const float* gamma, const float* save_mean,
                                      const float* save_invstd, const BatchNormDesc& d) {
  backward_ref<true>(dinp, dgamma, dbeta, dout, inp, out, gamma, save_mean, save_invstd, d);
}

void fast::batch_norm2d_relu_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                       const float* out, const float* gamma, const float* save_mean,
                                       const float* save_invstd, const BatchNormDesc& d) {
  backward_fast<true>(dinp, dgamma, dbeta, dout, inp, out, gamma, save_mean, save_invstd, d,
                      "batch_norm2d_relu_backward");
}

// ---- batch norm over ranks (ops.h): one kernel set serves Ref, Fast and Vendor (cuDNN has no split)
void batch_norm2d_channel_sums(float* sums, const float* inp, const float* total_sum, double count,
                               const BatchNormDesc& d) {
  const int chunks = chunk_count(d, "batch_norm2d_channel_sums");
  Tensor partials = Tensor::empty({static_cast<int64_t>(chunks) * d.C}, Device::CUDA);
  const dim3 grid(chunks, d.C);
  if (total_sum) {
    Tensor mean = Tensor::empty({d.C}, Device::CUDA);
    bn_mean_from_sum_kernel<<<blocks_for(d.C), kThreads>>>(mean.data<float>(), total_sum, d.C,
                                                            static_cast<float>(count));
    KEYNET_CUDA_LAUNCHED("batch_norm2d_mean_from_sum");
    bn_chunk_sum_kernel<true><<<grid, kThreads>>>(partials.data<float>(), inp, mean.data<float>(), d.N, d.C, d.HW);
  } else {
    bn_chunk_sum_kernel<false><<<grid, kThreads>>>(partials.data<float>(), inp, nullptr, d.N, d.C, d.HW);
  }
  KEYNET_CUDA_LAUNCHED("batch_norm2d_chunk_sum");
  bn_partials_finish_kernel<<<blocks_for(d.C), kThreads>>>(sums, partials.data<float>(), chunks, d.C);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_partials_finish");
}

void batch_norm2d_stats_from_sums(float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                  const float* total_sum, const float* total_squares, double count,
                                  const BatchNormDesc& d) {
  bn_stats_from_sums_kernel<<<blocks_for(d.C), kThreads>>>(save_mean, save_invstd, running_mean, running_var,
                                                            total_sum, total_squares, d.C, count,
                                                            static_cast<float>(d.eps), static_cast<float>(d.momentum));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_stats_from_sums");
}

void batch_norm2d_normalize(float* out, const float* inp, const float* gamma, const float* beta,
                            const float* save_mean, const float* save_invstd, bool relu, const BatchNormDesc& d) {
  const long total = static_cast<long>(d.N) * d.C * d.HW;
  if (relu)
    bn_normalise_kernel<true><<<blocks_for(total), kThreads>>>(out, inp, save_mean, save_invstd, gamma, beta, total,
                                                                d.C, d.HW);
  else
    bn_normalise_kernel<false><<<blocks_for(total), kThreads>>>(out, inp, save_mean, save_invstd, gamma, beta, total,
                                                                 d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_normalise");
}

void batch_norm2d_backward_sums(float* sums, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* save_mean, const float* save_invstd,
                                const BatchNormDesc& d) {
  const int chunks = chunk_count(d, "batch_norm2d_backward_sums");
  Tensor partials = Tensor::empty({2 * static_cast<int64_t>(chunks) * d.C}, Device::CUDA);
  const dim3 grid(chunks, d.C);
  if (out)
    bn_backward_chunk_kernel<true><<<grid, kThreads>>>(partials.data<float>(), dout, out, inp, save_mean, save_invstd,
                                                        d.N, d.C, d.HW);
  else
    bn_backward_chunk_kernel<false><<<grid, kThreads>>>(partials.data<float>(), dout, nullptr, inp, save_mean,
                                                         save_invstd, d.N, d.C, d.HW);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_chunk");
  bn_backward_finish_kernel<<<blocks_for(d.C), kThreads>>>(sums, dgamma, dbeta, partials.data<float>(), chunks, d.C);
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_finish");
}

void batch_norm2d_backward_apply(float* dinp, const float* dout, const float* inp, const float* out,
                                 const float* gamma, const float* save_mean, const float* save_invstd,
                                 const float* total_sums, double count, const BatchNormDesc& d) {
  const long total = static_cast<long>(d.N) * d.C * d.HW;
  if (out)
    bn_backward_data_kernel<true><<<blocks_for(total), kThreads>>>(dinp, dout, out, inp, gamma, save_mean,
                                                                    save_invstd, total_sums, total, d.C, d.HW,
                                                                    static_cast<float>(count));
  else
    bn_backward_data_kernel<false><<<blocks_for(total), kThreads>>>(dinp, dout, nullptr, inp, gamma, save_mean,
                                                                     save_invstd, total_sums, total, d.C, d.HW,
                                                                     static_cast<float>(count));
  KEYNET_CUDA_LAUNCHED("batch_norm2d_backward_data");
}

}  // namespace keynet::cuda
