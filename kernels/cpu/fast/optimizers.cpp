// Fast optimizer updates (torch.optim.Adam/AdamW and SGD, as kernels/cpu/ref/optimizers.h): the same
// per-element arithmetic, vectorised and threaded.
#include <cmath>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

void adam_update(float* param, const float* grad, float* m, float* v, int64_t n, const ops::AdamDesc& d) {
  const double bias_correction1 = 1.0 - std::pow(d.beta1, double(d.step));
  const double bias_correction2 = 1.0 - std::pow(d.beta2, double(d.step));
  const float step_size = float(d.lr / bias_correction1);
  const float sqrt_bias_correction2 = float(std::sqrt(bias_correction2));
  const float beta1 = float(d.beta1), one_minus_beta1 = float(1.0 - d.beta1);
  const float beta2 = float(d.beta2), one_minus_beta2 = float(1.0 - d.beta2);
  const float eps = float(d.eps), weight_decay = float(d.weight_decay);
  const float decay_factor = float(1.0 - d.lr * d.weight_decay);
  const bool coupled_decay = d.weight_decay != 0.0 && !d.decoupled_weight_decay;
  const bool decoupled_decay = d.weight_decay != 0.0 && d.decoupled_weight_decay;
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (decoupled_decay) param[i] *= decay_factor;
    if (coupled_decay) g += weight_decay * param[i];
    m[i] = beta1 * m[i] + one_minus_beta1 * g;
    v[i] = beta2 * v[i] + one_minus_beta2 * g * g;
    const float denom = std::sqrt(v[i]) / sqrt_bias_correction2 + eps;
    param[i] -= step_size * m[i] / denom;
  }
}

void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, const ops::SgdDesc& d) {
  const float lr = float(d.lr), weight_decay = float(d.weight_decay), momentum = float(d.momentum);
  const float one_minus_dampening = float(1.0 - d.dampening);
  const bool use_momentum = d.momentum != 0.0, first_step = d.first_step, nesterov = d.nesterov;
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i] + weight_decay * param[i];
    if (use_momentum) {
      momentum_buffer[i] = first_step ? g : momentum * momentum_buffer[i] + one_minus_dampening * g;
      g = nesterov ? g + momentum * momentum_buffer[i] : momentum_buffer[i];
    }
    param[i] -= lr * g;
  }
}

}  // namespace keynet::cpu::fast
