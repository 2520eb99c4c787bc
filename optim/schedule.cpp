#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace keynet {

double step_lr(double base_lr, int epoch, int step_size, double gamma) {
  KEYNET_CHECK(step_size > 0 && epoch >= 0, "step_lr: step_size must be positive and epoch non-negative, got ",
               step_size, " and ", epoch);
  return base_lr * std::pow(gamma, epoch / step_size);
}

double cosine_lr(double base_lr, int epoch, int t_max, double eta_min) {
  KEYNET_CHECK(t_max > 0 && epoch >= 0, "cosine_lr: t_max must be positive and epoch non-negative, got ", t_max,
               " and ", epoch);
  const double progress = std::min(epoch, t_max) / static_cast<double>(t_max);
  return eta_min + (base_lr - eta_min) * (1.0 + std::cos(M_PI * progress)) / 2.0;
}

}  // namespace keynet
