// Fast losses, mean over all n elements (PyTorch's reduction='mean'). Sums run in double over fixed
// per-thread ranges and the partial sums are added in thread order, so the loss repeats bit for bit.
#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {
template <class Term>
double deterministic_sum(int64_t n, Term term) {
  const int threads = threads_for(n);
  std::vector<double> partials(threads, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const Range range = split(n, omp_get_num_threads(), omp_get_thread_num());
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = range.begin; i < range.end; ++i) sum += term(i);
    partials[omp_get_thread_num()] = sum;
  }
  double total = 0.0;
  for (double partial : partials) total += partial;
  return total;
}
}  // namespace

float mse_loss_forward(const float* pred, const float* target, int64_t n) {
  const double sum = deterministic_sum(n, [=](int64_t i) {
    const double diff = double(pred[i]) - target[i];
    return diff * diff;
  });
  return float(sum / double(n));
}

// dpred overwritten: dloss * 2 (pred - target) / n
void mse_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n) {
  const float scale = float(2.0 * dloss / double(n));
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) dpred[i] = scale * (pred[i] - target[i]);
}

float l1_loss_forward(const float* pred, const float* target, int64_t n) {
  const double sum = deterministic_sum(n, [=](int64_t i) { return std::abs(double(pred[i]) - target[i]); });
  return float(sum / double(n));
}

// dpred overwritten: dloss * sign(pred - target) / n, with sign(0) = 0 as in PyTorch
void l1_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n) {
  const float scale = float(dloss / double(n));
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) {
    const float diff = pred[i] - target[i];
    dpred[i] = diff > 0.0f ? scale : (diff < 0.0f ? -scale : 0.0f);
  }
}

float wing_loss_forward(const float* pred, const float* target, const ops::WingDesc& d, int64_t n) {
  const double w = d.w, epsilon = d.epsilon, c = d.c();
  const double sum = deterministic_sum(n, [=](int64_t i) {
    const double x = std::abs(double(pred[i]) - target[i]);
    return x < w ? w * std::log1p(x / epsilon) : x - c;
  });
  return float(sum / double(n));
}

// dpred overwritten: dloss * sign(x) * (|x| < w ? w / (epsilon + |x|) : 1) / n, x = pred - target, sign(0) = 0
void wing_loss_backward(float* dpred, const float* pred, const float* target, const ops::WingDesc& d, float dloss,
                        int64_t n) {
  const float scale = float(dloss / double(n)), w = float(d.w), epsilon = float(d.epsilon);
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) {
    const float diff = pred[i] - target[i], x = std::abs(diff);
    const float slope = scale * (x < w ? w / (epsilon + x) : 1.0f);
    dpred[i] = diff > 0.0f ? slope : (diff < 0.0f ? -slope : 0.0f);
  }
}

}  // namespace keynet::cpu::fast
