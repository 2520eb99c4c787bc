#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "io/checkpoint.h"
#include "layers/sequential.h"
#include "tensor/cuda_memory.h"
#include "train/progress.h"
#include "train/step.h"

namespace keynet::train {

Device resolve_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") {
    KEYNET_CHECK(cuda_memory::device_available(),
                 "--device cuda: no CUDA device is available (or this build has no CUDA backend); use --device cpu "
                 "or auto");
    return Device::CUDA;
  }
  KEYNET_CHECK(name == "auto", "--device: expected auto, cpu or cuda, got '", name, "'");
  return cuda_memory::device_available() ? Device::CUDA : Device::CPU;
}

void place(Module& model, Loss& loss, Optimizer& optimizer, Device device, Impl impl) {
  to_device(model, device);
  model.set_impl(impl);
  loss.set_impl(impl);
  optimizer.set_impl(impl);
  model.set_needs_input_grad(false);  // nothing reads the gradient of the images
}

std::unique_ptr<Loss> make_loss(const std::string& name, const ops::WingDesc& wing) {
  if (name == "l1") return std::make_unique<L1Loss>();
  if (name == "wing") return std::make_unique<WingLoss>(wing);
  KEYNET_CHECK(name == "mse", "--loss: expected mse, l1 or wing, got '", name, "'");
  return std::make_unique<MSELoss>();
}

Trainer::Trainer(Module& model, Loss& loss, Optimizer& optimizer, const RunFolder& run, ModelCard card,
                 FitOptions options)
    : model_(model), loss_(loss), optimizer_(optimizer), run_(run), card_(std::move(card)), options_(options) {
  KEYNET_CHECK(options_.epochs > 0, "--epochs must be positive, got ", options_.epochs);
  KEYNET_CHECK(std::isfinite(options_.lr) && options_.lr > 0, "--lr must be a positive number, got ", options_.lr);
}

namespace {

// The signal that asked fit() to stop (0: none). Set by the handler, read after each step.
volatile std::sig_atomic_t stop_signal = 0;
extern "C" void request_stop(int signal) { stop_signal = signal; }

// SIGINT and SIGTERM ask the run to stop while this lives; the previous handlers come back after.
class StopOnSignal {
 public:
  StopOnSignal() {
    stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopOnSignal() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  struct sigaction previous_int_ {}, previous_term_ {};
};

std::string exact(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

const char* signal_name(int signal) { return signal == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM"; }

constexpr const char* kPending = ".pending";  // a checkpoint written in full, not yet renamed into place

std::string position_of(const std::map<std::string, std::string>& state) {
  const auto found = state.find("train.position");
  return found == state.end() ? state.at("train.epoch") + ":0" : found->second;  // files written before positions
}

bool all_finite(const Tensor& tensor) {
  for (float v : tensor.to(Device::CPU).to_float_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

// Where a non-finite loss comes from: a parameter or buffer that is no longer finite (the previous
// update's gradient was not), the batch itself, or the first layer whose output is not finite when
// the step's forward pass is replayed one top-level layer at a time.
std::string locate_non_finite(Module& model, const Tensor& images, const Tensor& targets) {
  for (auto& [name, parameter] : named_parameters(model))
    if (!all_finite(parameter->value))
      return "the parameter '" + name + "' is not finite: the previous step's update (its gradient) made it so";
  for (auto& [name, buffer] : named_buffers(model))
    if (!all_finite(*buffer)) return "the buffer '" + name + "' is not finite";
  if (!all_finite(images)) return "the batch's images are not finite";
  if (!all_finite(targets)) return "the batch's targets are not finite";
  if (auto* layers = dynamic_cast<Sequential*>(&model)) {
    Tensor x = images;
    for (size_t i = 0; i < layers->size(); ++i) {
      x = layers->child(i).forward(x, Mode::Train);
      if (!all_finite(x))
        return "the output of layer " + std::to_string(i) + " (" + layers->child(i).describe() +
               ") is the first that is not finite";
    }
    return "every layer's output is finite: the loss itself overflowed";
  }
  return "the parameters and the batch are finite: the forward pass overflowed";
}

// The state a training step changes (the model's parameters, buffers and counters; the optimizer's
// state and step count), copied where it lives, so that the steps after the copy can be undone and
// replayed one at a time. Copies between tensors of one device: no wait for the device.
class StateCopy : private ParamVisitor {
 public:
  void take(Module& model, Optimizer& optimizer) { walk(model, optimizer, false); }
  void restore(Module& model, Optimizer& optimizer) { walk(model, optimizer, true); }

 private:
  void walk(Module& model, Optimizer& optimizer, bool restoring) {
    restoring_ = restoring;
    next_tensor_ = next_counter_ = 0;
    model.visit(*this, "");
    optimizer.visit_state(*this);
  }
  void parameter(const std::string&, Parameter& parameter) override { tensor(parameter.value); }
  void buffer(const std::string&, Tensor& value) override { tensor(value); }
  void counter(const std::string&, int64_t& value) override {
    if (next_counter_ == counters_.size()) counters_.push_back(value);
    if (restoring_)
      value = counters_[next_counter_];
    else
      counters_[next_counter_] = value;
    ++next_counter_;
  }
  void tensor(Tensor& value) {
    if (next_tensor_ == tensors_.size()) tensors_.push_back(value.clone());  // the first take allocates
    if (restoring_)
      value.copy_from(tensors_[next_tensor_]);
    else
      tensors_[next_tensor_].copy_from(value);
    ++next_tensor_;
  }

  bool restoring_ = false;
  std::vector<Tensor> tensors_;
  std::vector<int64_t> counters_;
  std::size_t next_tensor_ = 0, next_counter_ = 0;
};

}  // namespace

// The pair (model, optimizer) carries the same position, epoch and step within it, so that a pair
// from two different saves is refused on resume.
void Trainer::save(const std::string& model_path, int epoch, const PartialEpoch& partial) {
  if (!writer()) return;  // rank 0 alone writes the run folder
  const std::string position = std::to_string(epoch) + ":" + std::to_string(partial.steps);
  std::map<std::string, std::string> state = {{"train.epoch", std::to_string(epoch)},
                                              {"train.position", position},
                                              {"train.best_epoch", std::to_string(best_epoch_)},
                                              {"train.best_metric", exact(best_metric_)}};
  if (partial.epoch > 0) {
    state["train.partial.steps"] = std::to_string(partial.steps);
    state["train.partial.loader_position"] = std::to_string(partial.position);
    state["train.partial.loss_sum"] = exact(partial.loss_sum);
    state["train.partial.samples"] = std::to_string(partial.samples);
    state["train.partial.seconds"] = exact(partial.seconds);
  }
  // Both files are written in full under ".pending" names first, then the optimizer state and then the
  // model are renamed into place. A run killed anywhere leaves either the old pair, or the new pair, or
  // the new optimizer state beside the old model with the new model complete in its pending file, which
  // restore() renames into place (roll forward).
  const std::string optimizer_path = optimizer_state_path(model_path);
  try {
    before_write(model_path + " pending");
    save_model(model_, model_path + kPending, card_, state);
    before_write(optimizer_path + " pending");
    save_optimizer(optimizer_, optimizer_path + kPending,
                   {{"train.epoch", std::to_string(epoch)}, {"train.position", position}});
  } catch (const Error& error) {  // a write failed (a full disk, say): nothing has been renamed yet
    std::error_code ignored;
    std::filesystem::remove(model_path + kPending, ignored);
    std::filesystem::remove(optimizer_path + kPending, ignored);
    KEYNET_FAIL("saving the checkpoint after epoch ", epoch, " failed: ", error.what(), "; ",
                std::filesystem::exists(model_path) ? "the previous checkpoint pair (" + model_path + ") is intact"
                                                    : std::string("no earlier checkpoint was saved there"));
  }
  before_write(optimizer_path + " rename");
  std::filesystem::rename(optimizer_path + kPending, optimizer_path);
  before_write(model_path + " rename");
  std::filesystem::rename(model_path + kPending, model_path);
}

std::pair<int, PartialEpoch> Trainer::restore() {
  const std::string path = run_.last_checkpoint();
  KEYNET_CHECK(std::filesystem::exists(path), "--resume: ", run_.root(), " holds no checkpoint to resume (",
               path, " is missing); start the run without --resume");
  auto model_state = load_model(model_, path, card_);
  check_same_recipe(ModelCard::from_metadata(model_state, path), card_, path);
  const auto optimizer_state = load_optimizer(optimizer_, optimizer_state_path(path));
  // A save stopped between its two renames: the new optimizer state is in place and the new model waits
  // complete in its pending file. Finish the save.
  if (optimizer_state.count("train.epoch") && model_state.count("train.epoch") &&
      position_of(optimizer_state) != position_of(model_state) && std::filesystem::exists(path + kPending)) {
    const auto pending_state = read_safetensors(path + kPending).metadata;
    if (pending_state.count("train.epoch") && position_of(pending_state) == position_of(optimizer_state)) {
      std::filesystem::rename(path + kPending, path);
      model_state = load_model(model_, path, card_);
    }
  }
  KEYNET_CHECK(model_state.count("train.epoch") && model_state.count("train.best_epoch") &&
                   model_state.count("train.best_metric"),
               path, ": not a training checkpoint (no train.* metadata); it cannot resume a run");
  const std::string epoch = model_state.at("train.epoch");
  KEYNET_CHECK(optimizer_state.count("train.epoch") && position_of(optimizer_state) == position_of(model_state),
               path, ": the model was saved at epoch:step ", position_of(model_state), " but its optimizer state ",
               optimizer_state_path(path), " at another (",
               optimizer_state.count("train.epoch") ? position_of(optimizer_state) : "none",
               "); the pair cannot resume a run exactly");
  best_epoch_ = std::stoi(model_state.at("train.best_epoch"));
  best_metric_ = std::stod(model_state.at("train.best_metric"));
  const int done = std::stoi(epoch);
  log_ = run_.read_log();
  KEYNET_CHECK(static_cast<int>(log_.size()) >= done, run_.log_csv(), ": has ", log_.size(),
               " epochs but the checkpoint was saved after epoch ", done);
  log_.resize(done);  // rows written after the checkpoint belong to an epoch that will run again
  PartialEpoch partial;
  if (model_state.count("train.partial.steps")) {
    try {
      partial.epoch = done + 1;
      partial.steps = std::stoi(model_state.at("train.partial.steps"));
      partial.position = std::stoull(model_state.at("train.partial.loader_position"));
      partial.loss_sum = std::stod(model_state.at("train.partial.loss_sum"));
      partial.samples = std::stoll(model_state.at("train.partial.samples"));
      partial.seconds = std::stod(model_state.at("train.partial.seconds"));
    } catch (const std::exception&) {
      KEYNET_FAIL(path, ": the train.partial.* metadata of this interrupted checkpoint is incomplete or malformed");
    }
  }
  return {done, partial};
}

std::vector<EpochRecord> Trainer::fit(data::DataLoader& train, const std::function<Validation()>& validate) {
  using Clock = std::chrono::steady_clock;
  int first_epoch = 1;
  PartialEpoch resumed;
  if (options_.resume) {
    const auto [done, partial] = restore();
    first_epoch = done + 1;
    resumed = partial;
    if (partial.epoch > 0)
      std::fprintf(stderr, "resuming %s in epoch %d after step %d\n", run_.root().c_str(), partial.epoch, partial.steps);
    else
      std::fprintf(stderr, "resuming %s after epoch %d\n", run_.root().c_str(), done);
  } else if (writer()) {
    KEYNET_CHECK(!std::filesystem::exists(run_.last_checkpoint()), run_.root(),
                 " already holds a run (", run_.last_checkpoint(), "); pass --resume to continue it, or choose "
                 "another --out");
  }
  const int64_t steps_per_epoch = static_cast<int64_t>(train.batches_per_epoch());
  const int64_t total_steps = steps_per_epoch * options_.epochs;
  const int64_t warmup_steps = steps_per_epoch * options_.schedule.warmup_epochs;
  Progress progress(options_.epochs, static_cast<int>(steps_per_epoch),
                    steps_per_epoch * (first_epoch - 1) + resumed.steps);
  DataParallel* const parallel = options_.parallel;
  if (parallel) parallel->broadcast_state(model_);  // every rank starts from rank 0's state
  const int ranks = parallel ? parallel->size() : 1;
  // Whether any rank was asked to stop: all ranks must stop after the same step, or the others would wait
  // for it in the next all-reduce.
  auto stop_requested = [&] { return parallel ? parallel->any(stop_signal != 0) : stop_signal != 0; };
  const int read_every = parallel                          ? 1  // the data-parallel step reads every loss
                         : options_.loss_read_every > 0    ? options_.loss_read_every
                         : options_.device == Device::CUDA ? 16
                                                           : 1;
  StateCopy before;  // the state before the steps whose loss is not read yet
  const StopOnSignal stop_on_signal;
  auto interrupted = [&](int epoch, const std::string& saved) {
    const int signal = stop_signal != 0 ? stop_signal : SIGINT;  // SIGINT: another rank's
    throw Interrupted(std::string(signal_name(signal)) + " in epoch " + std::to_string(epoch) + ": saved " + saved +
                          "; continue the run with --resume (same command)",
                      signal);
  };

  double training_seconds = 0;  // the epochs' training steps in this process, validation excluded
  for (int epoch = first_epoch; epoch <= options_.epochs; ++epoch) {
    const auto start = Clock::now();
    const bool continuing = resumed.epoch == epoch;
    train.start_epoch(epoch, continuing ? resumed.position : 0);
    int step_in_epoch = continuing ? resumed.steps : 0;
    int64_t step = steps_per_epoch * (epoch - 1) + step_in_epoch;
    double loss_sum = continuing ? resumed.loss_sum : 0;
    int64_t samples = continuing ? resumed.samples : 0;
    const double earlier_seconds = continuing ? resumed.seconds : 0;
    auto seconds_so_far = [&] { return earlier_seconds + std::chrono::duration<double>(Clock::now() - start).count(); };
    // The steps since the loss was last read: their losses wait on the device in `unread`, and `before`
    // holds the state before the first of them (when reads are deferred), for the replay that names a
    // non-finite loss's step.
    size_t position = continuing ? resumed.position : 0;  // the loader's, after the last step
    std::vector<size_t> unread_sizes;
    size_t unread_position = position;
    Tensor unread;
    auto add_loss = [&](double value, size_t batch_size) {  // the one place the epoch's loss is summed
      loss_sum += value * static_cast<double>(batch_size);
      samples += static_cast<int64_t>(batch_size);
    };
    auto fail_non_finite = [&](double value, int failed_step, const Tensor& images, const Tensor& targets) {
      const std::string where = locate_non_finite(model_, images, targets);
      KEYNET_FAIL("epoch ", epoch, ", step ", failed_step, ": the training loss is ", value, "; ", where,
                  ". Training stopped; the last good checkpoint is ", run_.last_checkpoint(), " (after epoch ",
                  epoch - 1, "); a smaller --lr may help");
    };
    // Runs the unread steps again from the state before them, each loss read at once as when reads are
    // not deferred, up to the first that is not finite (its parameters left as they were) and fails there.
    auto replay_unread = [&](double first_value) {
      before.restore(model_, optimizer_);
      train.start_epoch(epoch, unread_position);
      const int first_step = step_in_epoch - static_cast<int>(unread_sizes.size());
      for (int replayed = first_step; replayed < step_in_epoch; ++replayed) {
        const auto batch = train.next();
        KEYNET_CHECK(batch.has_value(), "epoch ", epoch, ": the loader ended while replaying step ", replayed + 1);
        optimizer_.set_lr(scheduled_lr(options_.lr, options_.schedule, steps_per_epoch * (epoch - 1) + replayed,
                                       total_steps, warmup_steps));
        const Tensor images = batch->images.to(options_.device);
        const Tensor targets = batch->targets.to(options_.device);
        const double value = train::step(model_, loss_, optimizer_, images, targets).loss;
        if (!std::isfinite(value)) fail_non_finite(value, replayed + 1, images, targets);
      }
      KEYNET_FAIL("epoch ", epoch, ": the training loss of one of steps ", first_step + 1, " to ", step_in_epoch,
                  " was ", first_value, " but every one was finite when replayed (a nondeterministic kernel?). "
                  "Training stopped; the last good checkpoint is ", run_.last_checkpoint(), " (after epoch ",
                  epoch - 1, ")");
    };
    // Reads the unread losses (one wait for the device) and adds them in step order.
    auto read_losses = [&] {
      if (unread_sizes.empty()) return;
      const std::vector<double> values = unread.to(Device::CPU).to_double_vector();
      for (size_t i = 0; i < unread_sizes.size(); ++i)
        if (!std::isfinite(values[i])) replay_unread(values[i]);
      for (size_t i = 0; i < unread_sizes.size(); ++i) add_loss(values[i], unread_sizes[i]);
      unread_sizes.clear();
      unread_position = position;
    };
    auto running_loss = [&] { return samples > 0 ? loss_sum / samples : std::nan(""); };
    while (auto batch = train.next()) {
      optimizer_.set_lr(scheduled_lr(options_.lr, options_.schedule, step, total_steps, warmup_steps));
      const Tensor images = batch->images.to(options_.device);
      const Tensor targets = batch->targets.to(options_.device);
      if (read_every == 1) {
        const double value = train::step(model_, loss_, optimizer_, images, targets, ReadLoss::Yes, parallel).loss;
        // step() left the parameters as they were: find where it came from
        if (!std::isfinite(value)) fail_non_finite(value, step_in_epoch + 1, images, targets);
        add_loss(value, batch->size());
      } else {
        if (unread_sizes.empty()) before.take(model_, optimizer_);
        const Tensor loss = train::step(model_, loss_, optimizer_, images, targets, ReadLoss::No).loss_tensor;
        if (!unread.defined()) unread = Tensor::empty({read_every}, loss.device(), loss.dtype());
        unread.view(static_cast<int64_t>(unread_sizes.size()), {1}).copy_from(loss);
        unread_sizes.push_back(batch->size());
      }
      position = batch->end_position;
      ++step;
      ++step_in_epoch;
      const bool stopping = stop_requested();
      if (static_cast<int>(unread_sizes.size()) == read_every || stopping) read_losses();
      if (writer()) progress.step(epoch, step_in_epoch, running_loss(), static_cast<int>(batch->size()) * ranks);
      if (stopping) {
        save(run_.last_checkpoint(), epoch - 1,
             {epoch, step_in_epoch, batch->end_position, loss_sum, samples, seconds_so_far()});
        interrupted(epoch, run_.last_checkpoint() + " after step " + std::to_string(step_in_epoch));
      }
    }
    read_losses();
    KEYNET_CHECK(samples > 0, "epoch ", epoch, ": the training loader gave no batch");
    const double epoch_training_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    training_seconds += epoch_training_seconds;
    Validation validation;
    try {
      if (writer()) validation = validate();  // the other ranks go on to the next epoch's first all-reduce
    } catch (const Error& error) {  // e.g. a model that now predicts non-finite points
      KEYNET_FAIL("epoch ", epoch, ": validation failed: ", error.what(), ". Training stopped; the last good "
                  "checkpoint is ", run_.last_checkpoint(), " (after epoch ", epoch - 1, ")");
    }
    EpochRecord record;
    record.epoch = epoch;
    record.train_loss = loss_sum / samples;
    record.val_loss = validation.loss;
    record.val_metric = validation.metric;
    record.lr = optimizer_.lr();
    record.seconds = seconds_so_far();
    log_.push_back(record);
    if (writer()) {
      before_write("log");
      run_.write_log(log_);
    }
    const bool improved = best_epoch_ == 0 || validation.metric < best_metric_;
    if (improved) {
      best_metric_ = validation.metric;
      best_epoch_ = epoch;
      save(run_.best_checkpoint(), epoch);
    }
    save(run_.last_checkpoint(), epoch);
    if (writer())
      progress.epoch_done(epoch, record.train_loss, record.val_loss, options_.metric_name, record.val_metric,
                          record.seconds, epoch_training_seconds);
    if (stop_requested() && epoch < options_.epochs) interrupted(epoch, run_.last_checkpoint() + " at its end");
  }
  if (parallel && writer())  // waits for the slowest rank included, validation excluded
    std::fprintf(stderr, "data-parallel on %d ranks (%s): summing the gradients took %.1f s of rank 0's %.1f s of "
                 "training steps in this process (%.1f%%)\n", ranks, parallel->communicator().name().c_str(),
                 parallel->seconds_summing(), training_seconds,
                 training_seconds > 0 ? 100 * parallel->seconds_summing() / training_seconds : 0.0);
  return log_;
}

}  // namespace keynet::train
