// Optimizer updates, element by element, following torch.optim.Adam/AdamW and SGD: the reference, and
// the fast CPU kernel too. An elementwise update has nothing to tune, so one template serves CPU Ref
// (float and double) and Fast: the hyperparameters converted once to T, the loop vectorised and threaded
// when large, bitwise the same at any thread count (each element is updated alone).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cpu/threads.h"
#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

template <class T>
void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, const ops::AdamDesc& d) {
  const double bias_correction1 = 1.0 - std::pow(d.beta1, static_cast<double>(d.step));
  const double bias_correction2 = 1.0 - std::pow(d.beta2, static_cast<double>(d.step));
  const T step_size = T(d.lr / bias_correction1);
  const T sqrt_bias_correction2 = T(std::sqrt(bias_correction2));
  const T beta1 = T(d.beta1), one_minus_beta1 = T(1.0 - d.beta1);
  const T beta2 = T(d.beta2), one_minus_beta2 = T(1.0 - d.beta2);
  const T eps = T(d.eps), weight_decay = T(d.weight_decay);
  const T decay_factor = T(1.0 - d.lr * d.weight_decay);
  const bool coupled_decay = d.weight_decay != 0.0 && !d.decoupled_weight_decay;  // Adam: into the gradient
  const bool decoupled_decay = d.weight_decay != 0.0 && d.decoupled_weight_decay;   // AdamW: onto the weight
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (decoupled_decay) param[i] *= decay_factor;
    if (coupled_decay) g += weight_decay * param[i];
    m[i] = beta1 * m[i] + one_minus_beta1 * g;
    v[i] = beta2 * v[i] + one_minus_beta2 * g * g;
    const T denom = std::sqrt(v[i]) / sqrt_bias_correction2 + eps;
    param[i] -= step_size * m[i] / denom;
  }
}

template <class T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const ops::SgdDesc& d) {
  const T lr = T(d.lr), weight_decay = T(d.weight_decay), momentum = T(d.momentum);
  const T one_minus_dampening = T(1.0 - d.dampening);
  const bool use_momentum = d.momentum != 0.0, first_step = d.first_step, nesterov = d.nesterov;
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i] + weight_decay * param[i];
    if (use_momentum) {
      momentum_buffer[i] = first_step ? g : momentum * momentum_buffer[i] + one_minus_dampening * g;
      g = nesterov ? g + momentum * momentum_buffer[i] : momentum_buffer[i];
    }
    param[i] -= lr * g;
  }
}

}  // namespace keynet::cpu::ref
