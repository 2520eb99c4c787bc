#include "train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace keynet::train {

std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60)
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%lds", s);
  return text;
}

Progress::Progress(int epochs, int steps_per_epoch, int64_t steps_done)
    : epochs_(epochs),
      steps_per_epoch_(steps_per_epoch),
      steps_done_at_start_(steps_done),
      steps_done_(steps_done),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(Clock::now()),
      last_print_(start_) {}

double Progress::seconds_left() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const int64_t done_here = steps_done_ - steps_done_at_start_;
  const int64_t left = static_cast<int64_t>(epochs_) * steps_per_epoch_ - steps_done_;
  return done_here > 0 ? elapsed / done_here * left : 0.0;
}

std::string Progress::line(int epoch, int step, double running_loss) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  char text[160];
  // The trainer reads the loss from the device every few steps: until its first read in an epoch
  // there is no running loss to show.
  char loss[32] = "-";
  if (!std::isnan(running_loss)) std::snprintf(loss, sizeof loss, "%.5g", running_loss);
  std::snprintf(text, sizeof text, "epoch %d/%d  step %d/%d  loss %s  %.0f img/s  ETA %s", epoch, epochs_, step,
                steps_per_epoch_, loss, elapsed > 0 ? images_ / elapsed : 0.0, format_duration(seconds_left()).c_str());
  return text;
}

void Progress::step(int epoch, int step, double running_loss, int images) {
  ++steps_done_;
  images_ += images;
  epoch_images_ += images;
  const auto now = Clock::now();
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", line(epoch, step, running_loss).c_str());
    std::fflush(stderr);
  } else if (now - last_print_ > std::chrono::seconds(30)) {
    std::fprintf(stderr, "%s\n", line(epoch, step, running_loss).c_str());
    last_print_ = now;
  }
}

void Progress::epoch_done(int epoch, double train_loss, double val_loss, const std::string& metric_name,
                          double metric, double seconds, double training_seconds) {
  std::fprintf(stderr, "%sepoch %d/%d  train loss %.5g  val loss %.5g  %s %.5g  (%s, training %.1f img/s, ETA %s)\n",
               terminal_ ? "\r\033[K" : "", epoch, epochs_, train_loss, val_loss, metric_name.c_str(), metric,
               format_duration(seconds).c_str(), training_seconds > 0 ? epoch_images_ / training_seconds : 0.0,
               format_duration(seconds_left()).c_str());
  epoch_images_ = 0;
  last_print_ = Clock::now();
}

}  // namespace keynet::train
