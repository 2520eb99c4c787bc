// The learning-rate schedule, all of it: a linear warm-up, then cosine annealing to a floor or a
// constant rate, as a function of the step. Trainer::fit sets the optimizer's rate from it before
// every step, from FitOptions::lr (the schedule's peak).
#pragma once
#include <cstdint>
#include <string>

namespace keynet::train {

struct Schedule {
  enum Kind { Constant, Cosine } kind = Cosine;
  int warmup_epochs = 0;        // linear ramp from lr/10 over these epochs
  double final_fraction = 0.0;  // cosine: the last step's lr is lr * final_fraction
};
Schedule::Kind parse_schedule(const std::string& name);  // "cosine" | "constant"

// The learning rate of step `step` (0-based) of `total_steps`. The cosine part is
// torch.optim.lr_scheduler.CosineAnnealingLR's closed form over the steps after the warm-up, with
// eta_min = base_lr * final_fraction reached at the last step.
double scheduled_lr(double base_lr, const Schedule& schedule, int64_t step, int64_t total_steps,
                    int64_t warmup_steps);

}  // namespace keynet::train
