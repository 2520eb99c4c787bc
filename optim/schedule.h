// Learning-rate schedules as functions of the epoch, matching torch.optim.lr_scheduler's closed forms.
#pragma once

namespace keynet {

// StepLR: base_lr * gamma^(floor(epoch / step_size))
double step_lr(double base_lr, int epoch, int step_size, double gamma);

// CosineAnnealingLR: eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2, held at
// eta_min after t_max.
double cosine_lr(double base_lr, int epoch, int t_max, double eta_min = 0.0);

}  // namespace keynet
