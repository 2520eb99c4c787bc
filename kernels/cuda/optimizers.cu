// Optimizer updates on the GPU, one thread per parameter element, following torch.optim.Adam/AdamW
// and SGD term by term as kernels/cpu/ref/optimizers.h does. An elementwise update has nothing to
// tile, so Impl::Fast and Impl::Ref share these kernels.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace keynet::cuda {

namespace {

struct AdamScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, step_size, sqrt_bias_correction2;
  float weight_decay, decay_factor;  // decay_factor = 1 - lr * weight_decay (AdamW)
  bool decay, decoupled;
};

__global__ void adam_kernel(float* param, const float* grad, float* m, float* v, int64_t n, AdamScalars a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float g = grad[i];
    float p = param[i];
    if (a.decay) {
      if (a.decoupled)
        p *= a.decay_factor;
      else
        g += a.weight_decay * p;
    }
    const float m_new = a.beta1 * m[i] + a.one_minus_beta1 * g;
    const float v_new = a.beta2 * v[i] + a.one_minus_beta2 * g * g;
    m[i] = m_new;
    v[i] = v_new;
    const float denom = sqrtf(v_new) / a.sqrt_bias_correction2 + a.eps;
    param[i] = p - a.step_size * m_new / denom;
  }
}

struct SgdScalars {
  float lr, momentum, one_minus_dampening, weight_decay;
  bool use_momentum, nesterov, first_step;
};

__global__ void sgd_kernel(float* param, const float* grad, float* momentum_buffer, int64_t n, SgdScalars s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float g = grad[i] + s.weight_decay * param[i];
    if (s.use_momentum) {
      const float buf = s.first_step ? g : s.momentum * momentum_buffer[i] + s.one_minus_dampening * g;
      momentum_buffer[i] = buf;
      g = s.nesterov ? g + s.momentum * buf : buf;
    }
    param[i] -= s.lr * g;
  }
}

}  // namespace

void adam_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamDesc& d) {
  const double bias_correction1 = 1.0 - std::pow(d.beta1, static_cast<double>(d.step));
  const double bias_correction2 = 1.0 - std::pow(d.beta2, static_cast<double>(d.step));
  const AdamScalars a{static_cast<float>(d.beta1),
                      static_cast<float>(1.0 - d.beta1),
                      static_cast<float>(d.beta2),
                      static_cast<float>(1.0 - d.beta2),
                      static_cast<float>(d.eps),
                      static_cast<float>(d.lr / bias_correction1),
                      static_cast<float>(std::sqrt(bias_correction2)),
                      static_cast<float>(d.weight_decay),
                      static_cast<float>(1.0 - d.lr * d.weight_decay),
                      d.weight_decay != 0.0,
                      d.decoupled_weight_decay};
  adam_kernel<<<blocks_for(n), kThreads>>>(param, grad, m, v, n, a);
  KEYNET_CUDA_LAUNCHED("adam_update");
}

void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, const SgdDesc& d) {
  const SgdScalars s{static_cast<float>(d.lr),
                     static_cast<float>(d.momentum),
                     static_cast<float>(1.0 - d.dampening),
                     static_cast<float>(d.weight_decay),
                     d.momentum != 0.0,
                     d.nesterov,
                     d.first_step};
  sgd_kernel<<<blocks_for(n), kThreads>>>(param, grad, momentum_buffer, n, s);
  KEYNET_CUDA_LAUNCHED("sgd_update");
}

}  // namespace keynet::cuda
