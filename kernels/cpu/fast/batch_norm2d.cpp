// Fast batch normalisation (PyTorch semantics, as kernels/cpu/ref/batch_norm2d.h), threaded over
// channels. Channel statistics are summed in double in one pass, which keeps the variance accurate
// for the value ranges activations have while reading the input once.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {
int channel_threads(const ops::BatchNormDesc& d) { return threads_for(int64_t(d.N) * d.C * d.HW); }
}  // namespace

// inp, out (N,C,HW); gamma, beta, running_mean, running_var, save_mean, save_invstd (C)
void batch_norm2d_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                float* running_var, const float* inp, const float* gamma, const float* beta,
                                const ops::BatchNormDesc& d) {
  const double M = double(d.N) * d.HW;
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    double sum = 0.0, sum_squares = 0.0;
    for (int n = 0; n < d.N; ++n) {
      const float* x = inp + (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd reduction(+ : sum, sum_squares)
      for (int i = 0; i < d.HW; ++i) {
        sum += x[i];
        sum_squares += double(x[i]) * x[i];
      }
    }
    const double mean = sum / M;
    const double squares = std::max(0.0, sum_squares - sum * mean);  // sum of (x - mean)^2
    const double var = squares / M;
    const double invstd = 1.0 / std::sqrt(var + d.eps);
    const float mean_f = float(mean), scale = float(invstd) * gamma[c], shift = beta[c];
    for (int n = 0; n < d.N; ++n) {
      const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd
      for (int i = 0; i < d.HW; ++i) out[offset + i] = (inp[offset + i] - mean_f) * scale + shift;
    }
    save_mean[c] = float(mean);
    save_invstd[c] = float(invstd);
    const double unbiased_var = M > 1 ? squares / (M - 1) : var;
    running_mean[c] = float((1 - d.momentum) * running_mean[c] + d.momentum * mean);
    running_var[c] = float((1 - d.momentum) * running_var[c] + d.momentum * unbiased_var);
  }
}

void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const ops::BatchNormDesc& d) {
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    const float invstd = float(1.0 / std::sqrt(double(running_var[c]) + d.eps));
    const float mean = running_mean[c], scale = invstd * gamma[c], shift = beta[c];
    for (int n = 0; n < d.N; ++n) {
      const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd
      for (int i = 0; i < d.HW; ++i) out[offset + i] = (inp[offset + i] - mean) * scale + shift;
    }
  }
}

// dinp overwritten; dgamma, dbeta accumulated. With xhat = (x - mean) * invstd and M = N*HW:
// dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
void batch_norm2d_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                           const float* gamma, const float* save_mean, const float* save_invstd,
                           const ops::BatchNormDesc& d) {
  const double M = double(d.N) * d.HW;
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    double sum_dy = 0.0, sum_dy_x = 0.0;
    for (int n = 0; n < d.N; ++n) {
      const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd reduction(+ : sum_dy, sum_dy_x)
      for (int i = 0; i < d.HW; ++i) {
        sum_dy += dout[offset + i];
        sum_dy_x += double(dout[offset + i]) * inp[offset + i];
      }
    }
    const double sum_dy_xhat = (sum_dy_x - mean * sum_dy) * invstd;  // sum(dy * (x - mean)) * invstd
    dgamma[c] += float(sum_dy_xhat);
    dbeta[c] += float(sum_dy);
    // dx = a * dy + b * (x - mean) + e: the formula above with the per-channel factors hoisted
    const double scale = double(gamma[c]) * invstd / M;
    const float a = float(scale * M), b = float(-scale * sum_dy_xhat * invstd), e = float(-scale * sum_dy);
    for (int n = 0; n < d.N; ++n) {
      const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd
      for (int i = 0; i < d.HW; ++i) dinp[offset + i] = a * dout[offset + i] + b * (inp[offset + i] - mean) + e;
    }
  }
}

}  // namespace keynet::cpu::fast
