// Reference losses, mean over all n elements (PyTorch's reduction='mean').
#pragma once
#include <cmath>
#include <cstdint>

namespace keynet::cpu::ref {

template <class T>
T mse_loss_forward(const T* pred, const T* target, int64_t n) {
  T sum = T(0);
  for (int64_t i = 0; i < n; ++i) sum += (pred[i] - target[i]) * (pred[i] - target[i]);
  return sum / T(n);
}

// dpred overwritten: dloss * 2 (pred - target) / n
template <class T>
void mse_loss_backward(T* dpred, const T* pred, const T* target, T dloss, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dpred[i] = dloss * T(2) * (pred[i] - target[i]) / T(n);
}

template <class T>
T l1_loss_forward(const T* pred, const T* target, int64_t n) {
  T sum = T(0);
  for (int64_t i = 0; i < n; ++i) sum += std::abs(pred[i] - target[i]);
  return sum / T(n);
}

// dpred overwritten: dloss * sign(pred - target) / n, with sign(0) = 0 as in PyTorch
template <class T>
void l1_loss_backward(T* dpred, const T* pred, const T* target, T dloss, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T diff = pred[i] - target[i];
    const T sign = diff > T(0) ? T(1) : (diff < T(0) ? T(-1) : T(0));
    dpred[i] = dloss * sign / T(n);
  }
}

// Wing loss (kernels/descriptors.h's WingDesc) with w, epsilon and c = w - w ln(1 + w / epsilon)
template <class T>
T wing_loss_forward(const T* pred, const T* target, T w, T epsilon, T c, int64_t n) {
  T sum = T(0);
  for (int64_t i = 0; i < n; ++i) {
    const T x = std::abs(pred[i] - target[i]);
    sum += x < w ? w * std::log1p(x / epsilon) : x - c;
  }
  return sum / T(n);
}

// dpred overwritten: dloss * sign(x) * (|x| < w ? w / (epsilon + |x|) : 1) / n, x = pred - target, sign(0) = 0
template <class T>
void wing_loss_backward(T* dpred, const T* pred, const T* target, T w, T epsilon, T dloss, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T diff = pred[i] - target[i], x = std::abs(diff);
    const T sign = diff > T(0) ? T(1) : (diff < T(0) ? T(-1) : T(0));
    dpred[i] = dloss * sign * (x < w ? w / (epsilon + x) : T(1)) / T(n);
  }
}

}  // namespace keynet::cpu::ref
