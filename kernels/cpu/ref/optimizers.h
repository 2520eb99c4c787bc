// Reference optimizer updates, element by element, following torch.optim.Adam/AdamW and SGD.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/descriptors.h"

namespace keynet::cpu::ref {

template <class T>
void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, const ops::AdamDesc& d) {
  const double bias_correction1 = 1.0 - std::pow(d.beta1, static_cast<double>(d.step));
  const double bias_correction2 = 1.0 - std::pow(d.beta2, static_cast<double>(d.step));
  const T step_size = T(d.lr / bias_correction1);
  const T sqrt_bias_correction2 = T(std::sqrt(bias_correction2));
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (d.weight_decay != 0.0) {
      if (d.decoupled_weight_decay)
        param[i] *= T(1.0 - d.lr * d.weight_decay);
      else
        g += T(d.weight_decay) * param[i];
    }
    m[i] = T(d.beta1) * m[i] + T(1.0 - d.beta1) * g;
    v[i] = T(d.beta2) * v[i] + T(1.0 - d.beta2) * g * g;
    const T denom = std::sqrt(v[i]) / sqrt_bias_correction2 + T(d.eps);
    param[i] -= step_size * m[i] / denom;
  }
}

template <class T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const ops::SgdDesc& d) {
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i] + T(d.weight_decay) * param[i];
    if (d.momentum != 0.0) {
      momentum_buffer[i] =
          d.first_step ? g : T(d.momentum) * momentum_buffer[i] + T(1.0 - d.dampening) * g;
      g = d.nesterov ? g + T(d.momentum) * momentum_buffer[i] : momentum_buffer[i];
    }
    param[i] -= T(d.lr) * g;
  }
}

}  // namespace keynet::cpu::ref
