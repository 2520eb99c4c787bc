// Fast batch normalisation (PyTorch semantics, as kernels/cpu/ref/batch_norm2d.h), threaded over
// channels, and the same with ReLU fused (batch_norm2d_relu_*): the ReLU is applied in the loop that
// writes the output, and its mask in the loops that read the output gradient, so the fused op reads and
// writes each tensor as often as batch norm alone. Channel statistics are summed in double in one pass,
// which keeps the variance accurate for the value ranges activations have while reading the input once.
// Each channel is one thread's, summed in a fixed order: the results repeat bit for bit at a given
// thread count. NaN and infinities propagate as in the reference: a channel that holds one has NaN
// statistics (the sum of squares is not clamped when it is NaN), and the ReLU keeps NaN.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {

int channel_threads(const ops::BatchNormDesc& d) { return threads_for(int64_t(d.N) * d.C * d.HW); }

// y, with ReLU when Relu: max(y, 0), NaN kept (as kernels/cpu/ref/relu.h)
template <bool Relu>
inline float activate(float y) {
  return Relu ? (y <= 0.0f ? 0.0f : y) : y;
}

// inp, out (N,C,HW); gamma, beta, running_mean, running_var, save_mean, save_invstd (C)
template <bool Relu>
void forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                   const float* inp, const float* gamma, const float* beta, const ops::BatchNormDesc& d) {
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
    const double centred = sum_squares - sum * mean;  // sum of (x - mean)^2, up to rounding; NaN stays NaN
    const double squares = centred < 0.0 ? 0.0 : centred;
    const double var = squares / M;
    const double invstd = 1.0 / std::sqrt(var + d.eps);
    const float mean_f = float(mean), scale = float(invstd) * gamma[c], shift = beta[c];
    for (int n = 0; n < d.N; ++n) {
      const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd
      for (int i = 0; i < d.HW; ++i) out[offset + i] = activate<Relu>((inp[offset + i] - mean_f) * scale + shift);
    }
    save_mean[c] = float(mean);
    save_invstd[c] = float(invstd);
    const double unbiased_var = M > 1 ? squares / (M - 1) : var;
    running_mean[c] = float((1 - d.momentum) * running_mean[c] + d.momentum * mean);
    running_var[c] = float((1 - d.momentum) * running_var[c] + d.momentum * unbiased_var);
  }
}

template <bool Relu>
void forward_eval(float* out, const float* inp, const float* gamma, const float* beta, const float* running_mean,
                  const float* running_var, const ops::BatchNormDesc& d) {
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    const float invstd = float(1.0 / std::sqrt(double(running_var[c]) + d.eps));
    const float mean = running_mean[c], scale = invstd * gamma[c], shift = beta[c];
    for (int n = 0; n < d.N; ++n) {
      const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd
      for (int i = 0; i < d.HW; ++i) out[offset + i] = activate<Relu>((inp[offset + i] - mean) * scale + shift);
    }
  }
}

// The output gradient batch norm sees: dout, or with ReLU dout where out > 0 or NaN, else +0 (a select,
// as relu_backward: a NaN dout where out is 0 is dropped). The select is an AND of dout's bits with a mask
// of all ones or all zeros: written as `out <= 0 ? 0 : dout`, GCC 12's vectorised double-precision sums
// below ran 11 to 16 times slower than without the mask (measured at ResNet18's 56x56 planes).
template <bool Relu>
inline float masked(const float* dout, const float* out, int64_t j) {
  if constexpr (Relu) {
    const uint32_t keep = out[j] <= 0.0f ? 0u : ~0u;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(dout[j]) & keep);
  } else {
    return dout[j];
  }
}

// Channel c's sum(dy) and sum(dy * xhat) in double, dy = masked<Relu>; out (the forward's) only with Relu.
struct GradientSums {
  double dy = 0.0, dy_xhat = 0.0;
};
template <bool Relu>
inline GradientSums channel_gradient_sums(int c, const float* dout, const float* inp, const float* out, float mean,
                                          float invstd, const ops::BatchNormDesc& d) {
  double sum_dy = 0.0, sum_dy_x = 0.0;
  for (int n = 0; n < d.N; ++n) {
    const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd reduction(+ : sum_dy, sum_dy_x)
    for (int i = 0; i < d.HW; ++i) {
      const float dy = masked<Relu>(dout, out, offset + i);
      sum_dy += dy;
      sum_dy_x += double(dy) * inp[offset + i];
    }
  }
  return {sum_dy, (sum_dy_x - mean * sum_dy) * invstd};  // sum(dy * (x - mean)) * invstd
}

// Channel c's dinp from its sums over M values (this batch's, or the ranks' totals):
// dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)) = a * dy + b * (x - mean) + e, the
// per-channel factors hoisted.
template <bool Relu>
inline void channel_input_gradient(int c, float* dinp, const float* dout, const float* inp, const float* out,
                                   float gamma, float mean, float invstd, GradientSums sums, double M,
                                   const ops::BatchNormDesc& d) {
  const double scale = double(gamma) * invstd / M;
  const float a = float(scale * M), b = float(-scale * sums.dy_xhat * invstd), e = float(-scale * sums.dy);
  for (int n = 0; n < d.N; ++n) {
    const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
#pragma omp simd
    for (int i = 0; i < d.HW; ++i)
      dinp[offset + i] = a * masked<Relu>(dout, out, offset + i) + b * (inp[offset + i] - mean) + e;
  }
}

// dinp overwritten; dgamma, dbeta accumulated (M = N*HW); out (the forward's) only with Relu
template <bool Relu>
void backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp, const float* out,
              const float* gamma, const float* save_mean, const float* save_invstd, const ops::BatchNormDesc& d) {
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    const GradientSums sums = channel_gradient_sums<Relu>(c, dout, inp, out, save_mean[c], save_invstd[c], d);
    dgamma[c] += float(sums.dy_xhat);
    dbeta[c] += float(sums.dy);
    channel_input_gradient<Relu>(c, dinp, dout, inp, out, gamma[c], save_mean[c], save_invstd[c], sums,
                                 double(d.N) * d.HW, d);
  }
}
}  // namespace

// ---- batch norm
void batch_norm2d_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                float* running_var, const float* inp, const float* gamma, const float* beta,
                                const ops::BatchNormDesc& d) {
  forward_train<false>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d);
}

void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const ops::BatchNormDesc& d) {
  forward_eval<false>(out, inp, gamma, beta, running_mean, running_var, d);
}

void batch_norm2d_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                           const float* gamma, const float* save_mean, const float* save_invstd,
                           const ops::BatchNormDesc& d) {
  backward<false>(dinp, dgamma, dbeta, dout, inp, nullptr, gamma, save_mean, save_invstd, d);
}

// ---- batch norm + ReLU: out = relu(BN(x)); backward takes the forward's out for the mask
void batch_norm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const float* inp, const float* gamma, const float* beta,
                                     const ops::BatchNormDesc& d) {
  forward_train<true>(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d);
}

void batch_norm2d_relu_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var,
                                    const ops::BatchNormDesc& d) {
  forward_eval<true>(out, inp, gamma, beta, running_mean, running_var, d);
}

void batch_norm2d_relu_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* gamma, const float* save_mean,
                                const float* save_invstd, const ops::BatchNormDesc& d) {
  backward<true>(dinp, dgamma, dbeta, dout, inp, out, gamma, save_mean, save_invstd, d);
}

// ---- batch norm over ranks (ops.h, "SyncBatchNorm"), threaded over channels, sums in double
void batch_norm2d_channel_sums(float* sums, const float* inp, const float* total_sum, double count,
                               const ops::BatchNormDesc& d) {
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    const double mean = total_sum ? double(total_sum[c]) / count : 0.0;
    double sum = 0.0;
    for (int n = 0; n < d.N; ++n) {
      const float* x = inp + (int64_t(n) * d.C + c) * d.HW;
      if (total_sum) {
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < d.HW; ++i) sum += (x[i] - mean) * (x[i] - mean);
      } else {
#pragma omp simd reduction(+ : sum)
        for (int i = 0; i < d.HW; ++i) sum += x[i];
      }
    }
    sums[c] = float(sum);
  }
}

void batch_norm2d_normalize(float* out, const float* inp, const float* gamma, const float* beta,
                            const float* save_mean, const float* save_invstd, bool relu, const ops::BatchNormDesc& d) {
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    const float mean = save_mean[c], scale = save_invstd[c] * gamma[c], shift = beta[c];
    for (int n = 0; n < d.N; ++n) {
      const int64_t offset = (int64_t(n) * d.C + c) * d.HW;
      if (relu) {
#pragma omp simd
        for (int i = 0; i < d.HW; ++i) out[offset + i] = activate<true>((inp[offset + i] - mean) * scale + shift);
      } else {
#pragma omp simd
        for (int i = 0; i < d.HW; ++i) out[offset + i] = (inp[offset + i] - mean) * scale + shift;
      }
    }
  }
}

namespace {

template <bool Relu>
void backward_sums(float* sums, float* dgamma, float* dbeta, const float* dout, const float* inp, const float* out,
                   const float* save_mean, const float* save_invstd, const ops::BatchNormDesc& d) {
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c) {
    const GradientSums channel = channel_gradient_sums<Relu>(c, dout, inp, out, save_mean[c], save_invstd[c], d);
    sums[c] = float(channel.dy);
    sums[d.C + c] = float(channel.dy_xhat);
    dbeta[c] += float(channel.dy);
    dgamma[c] += float(channel.dy_xhat);
  }
}

template <bool Relu>
void backward_apply(float* dinp, const float* dout, const float* inp, const float* out, const float* gamma,
                    const float* save_mean, const float* save_invstd, const float* total_sums, double count,
                    const ops::BatchNormDesc& d) {
#pragma omp parallel for schedule(static) num_threads(channel_threads(d))
  for (int c = 0; c < d.C; ++c)
    channel_input_gradient<Relu>(c, dinp, dout, inp, out, gamma[c], save_mean[c], save_invstd[c],
                                 {total_sums[c], total_sums[d.C + c]}, count, d);
}

}  // namespace

void batch_norm2d_backward_sums(float* sums, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* save_mean, const float* save_invstd,
                                const ops::BatchNormDesc& d) {
  if (out)
    backward_sums<true>(sums, dgamma, dbeta, dout, inp, out, save_mean, save_invstd, d);
  else
    backward_sums<false>(sums, dgamma, dbeta, dout, inp, nullptr, save_mean, save_invstd, d);
}

void batch_norm2d_backward_apply(float* dinp, const float* dout, const float* inp, const float* out,
                                 const float* gamma, const float* save_mean, const float* save_invstd,
                                 const float* total_sums, double count, const ops::BatchNormDesc& d) {
  if (out)
    backward_apply<true>(dinp, dout, inp, out, gamma, save_mean, save_invstd, total_sums, count, d);
  else
    backward_apply<false>(dinp, dout, inp, nullptr, gamma, save_mean, save_invstd, total_sums, count, d);
}

}  // namespace keynet::cpu::fast
