// Training progress on stderr: epoch, step, running loss, images per second and the time left. On a
// terminal one line is redrawn in place; otherwise (a log file, CI) a plain line is written at the end
// of each epoch and at most every 30 seconds within one.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace keynet::train {

class Progress {
 public:
  // total_steps: every step of the run; steps_done: those already done (a resumed run).
  Progress(int epochs, int steps_per_epoch, int64_t steps_done);
  // After each training step of `epoch` (1-based), step (1-based) within it.
  void step(int epoch, int step, double running_loss, int images);  // running_loss NaN: none read yet
  // After an epoch's validation: one summary line. seconds: the run's so far; training_seconds: this
  // epoch's training steps in this process, validation excluded (the line shows their images per second).
  void epoch_done(int epoch, double train_loss, double val_loss, const std::string& metric_name, double metric,
                  double seconds, double training_seconds);

 private:
  std::string line(int epoch, int step, double running_loss) const;
  double seconds_left() const;  // from the pace of the steps done in this process
  using Clock = std::chrono::steady_clock;
  int epochs_, steps_per_epoch_;
  int64_t steps_done_at_start_, steps_done_;
  int64_t images_ = 0;
  int64_t epoch_images_ = 0;  // since the last epoch_done
  bool terminal_;
  Clock::time_point start_, last_print_;
};

// "1h02m", "3m05s", "42s"
std::string format_duration(double seconds);

}  // namespace keynet::train
