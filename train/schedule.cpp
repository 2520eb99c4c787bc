#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace keynet::train {

Schedule::Kind parse_schedule(const std::string& name) {
  if (name == "cosine") return Schedule::Cosine;
  KEYNET_CHECK(name == "constant", "--schedule: expected cosine or constant, got '", name, "'");
  return Schedule::Constant;
}

double scheduled_lr(double base_lr, const Schedule& schedule, int64_t step, int64_t total_steps,
                    int64_t warmup_steps) {
  KEYNET_CHECK(step >= 0 && warmup_steps >= 0, "scheduled_lr: step and warm-up steps must be non-negative, got ",
               step, " and ", warmup_steps);
  if (step < warmup_steps) return base_lr * (0.1 + 0.9 * static_cast<double>(step) / warmup_steps);
  if (schedule.kind == Schedule::Constant) return base_lr;
  const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps - 1);
  const double progress = static_cast<double>(std::min(step - warmup_steps, span)) / static_cast<double>(span);
  const double floor = base_lr * schedule.final_fraction;  // held after the last step
  return floor + (base_lr - floor) * (1.0 + std::cos(M_PI * progress)) / 2.0;
}

}  // namespace keynet::train
