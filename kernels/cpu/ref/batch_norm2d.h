// Reference batch normalisation over (N, HW) per channel, PyTorch semantics; and BatchNorm2d followed by
// ReLU fused (batch_norm2d_relu_*): the same statistics, the ReLU applied as each output is written, and
// the backward's ReLU mask applied as each output gradient is read. The fused ops are exactly the
// composition batch_norm2d_* then relu_* of kernels/cpu/ref/relu.h, NaN included (relu_value, relu_grad).
#pragma once
#include <cmath>

#include "kernels/cpu/ref/relu.h"
#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

namespace bn_impl {

// Relu: out = relu_value(BN(x)) instead of BN(x)
template <bool Relu, class T>
void forward_train(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
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
        const T y = (inp[j] - mean) * invstd * gamma[c] + beta[c];
        out[j] = Relu ? relu_value(y) : y;
      }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    const T unbiased_var = M > 1 ? squares / T(M - 1) : var;
    running_mean[c] = T(1 - d.momentum) * running_mean[c] + T(d.momentum) * mean;
    running_var[c] = T(1 - d.momentum) * running_var[c] + T(d.momentum) * unbiased_var;
  }
}

template <bool Relu, class T>
void forward_eval(T* out, const T* inp, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                  const ops::BatchNormDesc& d) {
  for (int c = 0; c < d.C; ++c) {
    const T invstd = T(1) / std::sqrt(running_var[c] + T(d.eps));
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        const T y = (inp[j] - running_mean[c]) * invstd * gamma[c] + beta[c];
        out[j] = Relu ? relu_value(y) : y;
      }
  }
}

// dinp overwritten; dgamma, dbeta accumulated. With xhat = (x - mean) * invstd and M = N*HW:
// dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
// out: null for plain batch norm (dy = dout); the fused forward's output for BN + ReLU (dy = relu_grad(dout, out))
template <class T>
void backward(T* dinp, T* dgamma, T* dbeta, const T* dout, const T* inp, const T* out, const T* gamma,
              const T* save_mean, const T* save_invstd, const ops::BatchNormDesc& d) {
  const T M = T(static_cast<double>(d.N) * d.HW);
  const auto dy = [&](int j) { return out ? relu_grad(dout[j], out[j]) : dout[j]; };
  for (int c = 0; c < d.C; ++c) {
    T sum_dy = T(0), sum_dy_xhat = T(0);
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        sum_dy += dy(j);
        sum_dy_xhat += dy(j) * (inp[j] - save_mean[c]) * save_invstd[c];
      }
    dgamma[c] += sum_dy_xhat;
    dbeta[c] += sum_dy;
    const T scale = gamma[c] * save_invstd[c] / M;
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        const T xhat = (inp[j] - save_mean[c]) * save_invstd[c];
        dinp[j] = scale * (M * dy(j) - sum_dy - xhat * sum_dy_xhat);
      }
  }
}

}  // namespace bn_impl

// ---- batch norm: inp, out (N,C,HW); gamma, beta, running_mean, running_var, save_mean, save_invstd (C)
template <class T>
void batch_norm2d_forward_train(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                                const T* gamma, const T* beta, const ops::BatchNormDesc& d) {
  bn_impl::forward_train<false>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d);
}
template <class T>
void batch_norm2d_forward_eval(T* out, const T* inp, const T* gamma, const T* beta, const T* running_mean,
                               const T* running_var, const ops::BatchNormDesc& d) {
  bn_impl::forward_eval<false>(out, inp, gamma, beta, running_mean, running_var, d);
}
template <class T>
void batch_norm2d_backward(T* dinp, T* dgamma, T* dbeta, const T* dout, const T* inp, const T* gamma,
                           const T* save_mean, const T* save_invstd, const ops::BatchNormDesc& d) {
  bn_impl::backward<T>(dinp, dgamma, dbeta, dout, inp, nullptr, gamma, save_mean, save_invstd, d);
}

// ---- batch norm in evaluation folded into the convolution before it, for inference: with
// s_k = gamma_k / sqrt(running_var_k + eps), weight_out (K, CRS) = weight's row k times s_k and
// bias_out (K) = beta_k + (bias_k - running_mean_k) s_k (bias null: 0), so that conv(x; weight_out) +
// bias_out = BN_eval(conv(x; weight) + bias) in exact arithmetic. In double, whatever T.
template <class T>
void batch_norm2d_fold(T* weight_out, T* bias_out, const T* weight, const T* bias, const T* gamma, const T* beta,
                       const T* running_mean, const T* running_var, double eps, int K, int64_t CRS) {
  for (int k = 0; k < K; ++k) {
    const double s = double(gamma[k]) / std::sqrt(double(running_var[k]) + eps);
    for (int64_t i = 0; i < CRS; ++i) weight_out[k * CRS + i] = T(double(weight[k * CRS + i]) * s);
    bias_out[k] = T(double(beta[k]) + ((bias ? double(bias[k]) : 0.0) - double(running_mean[k])) * s);
  }
}

// ---- BatchNorm2d + ReLU: out = relu(BN(x)), as above in every other respect
template <class T>
void batch_norm2d_relu_forward_train(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                     const T* inp, const T* gamma, const T* beta, const ops::BatchNormDesc& d) {
  bn_impl::forward_train<true>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d);
}
template <class T>
void batch_norm2d_relu_forward_eval(T* out, const T* inp, const T* gamma, const T* beta, const T* running_mean,
                                    const T* running_var, const ops::BatchNormDesc& d) {
  bn_impl::forward_eval<true>(out, inp, gamma, beta, running_mean, running_var, d);
}
// out (N,C,HW): the fused forward's output; the backward of batch norm applied to relu_backward(dout, out)
template <class T>
void batch_norm2d_relu_backward(T* dinp, T* dgamma, T* dbeta, const T* dout, const T* inp, const T* out,
                                const T* gamma, const T* save_mean, const T* save_invstd,
                                const ops::BatchNormDesc& d) {
  bn_impl::backward<T>(dinp, dgamma, dbeta, dout, inp, out, gamma, save_mean, save_invstd, d);
}

// ---- batch norm over ranks (ops.h, "SyncBatchNorm"): the train-mode ops split at the ranks' sums.
// inp, out, dout, dinp (N,C,HW); per-channel vectors (C); count: values per channel over all ranks.
template <class T>
void batch_norm2d_channel_sums(T* sums, const T* inp, const T* total_sum, double count, const ops::BatchNormDesc& d) {
  for (int c = 0; c < d.C; ++c) {
    const T mean = total_sum ? total_sum[c] / T(count) : T(0);
    T sum = T(0);
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const T x = inp[(n * d.C + c) * d.HW + i];
        sum += total_sum ? (x - mean) * (x - mean) : x;
      }
    sums[c] = sum;
  }
}
template <class T>
void batch_norm2d_stats_from_sums(T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* total_sum,
                                  const T* total_squares, double count, const ops::BatchNormDesc& d) {
  for (int c = 0; c < d.C; ++c) {
    const T mean = total_sum[c] / T(count);
    const T var = total_squares[c] / T(count);
    save_mean[c] = mean;
    save_invstd[c] = T(1) / std::sqrt(var + T(d.eps));
    const T unbiased_var = count > 1 ? total_squares[c] / T(count - 1) : var;
    running_mean[c] = T(1 - d.momentum) * running_mean[c] + T(d.momentum) * mean;
    running_var[c] = T(1 - d.momentum) * running_var[c] + T(d.momentum) * unbiased_var;
  }
}
template <class T>
void batch_norm2d_normalize(T* out, const T* inp, const T* gamma, const T* beta, const T* save_mean,
                            const T* save_invstd, bool relu, const ops::BatchNormDesc& d) {
  for (int c = 0; c < d.C; ++c)
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        const T y = (inp[j] - save_mean[c]) * save_invstd[c] * gamma[c] + beta[c];
        out[j] = relu ? relu_value(y) : y;
      }
}
// sums (2C): sum(dy), then sum(dy * xhat); out null: dy = dout, else relu_grad(dout, out)
template <class T>
void batch_norm2d_backward_sums(T* sums, T* dgamma, T* dbeta, const T* dout, const T* inp, const T* out,
                                const T* save_mean, const T* save_invstd, const ops::BatchNormDesc& d) {
  for (int c = 0; c < d.C; ++c) {
    T sum_dy = T(0), sum_dy_xhat = T(0);
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        const T dy = out ? relu_grad(dout[j], out[j]) : dout[j];
        sum_dy += dy;
        sum_dy_xhat += dy * (inp[j] - save_mean[c]) * save_invstd[c];
      }
    sums[c] = sum_dy;
    sums[d.C + c] = sum_dy_xhat;
    dbeta[c] += sum_dy;
    dgamma[c] += sum_dy_xhat;
  }
}
template <class T>
void batch_norm2d_backward_apply(T* dinp, const T* dout, const T* inp, const T* out, const T* gamma,
                                 const T* save_mean, const T* save_invstd, const T* total_sums, double count,
                                 const ops::BatchNormDesc& d) {
  const T M = T(count);
  for (int c = 0; c < d.C; ++c) {
    const T scale = gamma[c] * save_invstd[c] / M;
    for (int n = 0; n < d.N; ++n)
      for (int i = 0; i < d.HW; ++i) {
        const int j = (n * d.C + c) * d.HW + i;
        const T dy = out ? relu_grad(dout[j], out[j]) : dout[j];
        const T xhat = (inp[j] - save_mean[c]) * save_invstd[c];
        dinp[j] = scale * (M * dy - total_sums[c] - xhat * total_sums[d.C + c]);
      }
  }
}

}  // namespace keynet::cpu::ref
