// Reference batch normalisation over (N, HW) per channel, PyTorch semantics.
#pragma once
#include <cmath>

#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

// inp, out (N,C,HW); gamma, beta, running_mean, running_var, save_mean, save_invstd (C)
template <class T>
void batch_norm2d_forward_train(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                                const T* gamma, const T* beta, const ops::BatchNormDesc& d) {
  const double M = static_cast<double>(d.N) * d.HW;
  for (int c = 0; c < d.C; ++c) {
    T sum = T(0);
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) sum += inp[(n * d.C + c) * d.HW + i];
    const T mean = sum / T(M);
    T squares = T(0);
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const T centred = inp[(n * d.C + c) * d.HW + i] - mean;
        squares += centred * centred;
      }
    const T var = squares / T(M);
    const T invstd = T(1) / std::sqrt(var + T(d.eps));
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        out[j] = (inp[j] - mean) * invstd * gamma[c] + beta[c];
      }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    const T unbiased_var = M > 1 ? squares / T(M - 1) : var;
    running_mean[c] = T(1 - d.momentum) * running_mean[c] + T(d.momentum) * mean;
    running_var[c] = T(1 - d.momentum) * running_var[c] + T(d.momentum) * unbiased_var;
  }
}

template <class T>
void batch_norm2d_forward_eval(T* out, const T* inp, const T* gamma, const T* beta, const T* running_mean,
                               const T* running_var, const ops::BatchNormDesc& d) {
  for (int c = 0; c < d.C; ++c) {
    const T invstd = T(1) / std::sqrt(running_var[c] + T(d.eps));
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        out[j] = (inp[j] - running_mean[c]) * invstd * gamma[c] + beta[c];
      }
  }
}

// dinp overwritten; dgamma, dbeta accumulated. With xhat = (x - mean) * invstd and M = N*HW:
// dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
template <class T>
void batch_norm2d_backward(T* dinp, T* dgamma, T* dbeta, const T* dout, const T* inp, const T* gamma,
                           const T* save_mean, const T* save_invstd, const ops::BatchNormDesc& d) {
  const T M = T(static_cast<double>(d.N) * d.HW);
  for (int c = 0; c < d.C; ++c) {
    T sum_dy = T(0), sum_dy_xhat = T(0);
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        sum_dy += dout[j];
        sum_dy_xhat += dout[j] * (inp[j] - save_mean[c]) * save_invstd[c];
      }
    dgamma[c] += sum_dy_xhat;
    dbeta[c] += sum_dy;
    const T scale = gamma[c] * save_invstd[c] / M;
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        const T xhat = (inp[j] - save_mean[c]) * save_invstd[c];
        dinp[j] = scale * (M * dout[j] - sum_dy - xhat * sum_dy_xhat);
      }
  }
}

}  // namespace keynet::cpu::ref
