// The training layer: metrics against hand-computed values, the learning-rate schedule, train::step
// against the step written out, the run folder's log, self-describing model files, a few epochs on
// fixture faces that lower the loss, and a run interrupted after its second epoch that, resumed, ends
// bitwise equal to one never stopped.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/imm.h"
#include "data/loader.h"
#include "io/checkpoint.h"
#include "io/csv.h"
#include "io/safetensors.h"
#include "layers/nets.h"
#include "support/train_fixtures.h"
#include "test_data_support.h"
#include "train/evaluate.h"
#include "train/face_finder.h"
#include "train/metrics.h"
#include "train/step.h"
#include "train/trainer.h"

using namespace keynet;
using namespace keynet::train;
using keynet::data::testing::contains;
using keynet::data::testing::error_of;
using keynet::data::testing::fixture;
using keynet::data::testing::TempDir;
using keynet::testing::imm_fixture_faces;
using keynet::testing::tiny_card;

TEST_CASE("metrics equal hand-computed values") {
  // Two faces of two points; errors (dx, dy) in pixels: (3, 4), (0, 0) | (6, 8), (-3, 0).
  const std::vector<Points> truth = {{{10, 20}, {30, 40}}, {{0, 0}, {100, 50}}};
  const std::vector<Points> predicted = {{{13, 24}, {30, 40}}, {{6, 8}, {97, 50}}};
  // Normalised by a 100 x 50 image: squares (0.03^2 + 0.08^2) + 0 + (0.06^2 + 0.16^2) + 0.03^2 over 8 coordinates.
  const double expected_mse = (0.0009 + 0.0064 + 0.0036 + 0.0256 + 0.0009) / 8;
  CHECK(normalized_mse(predicted, truth, 100, 50) == doctest::Approx(expected_mse).epsilon(1e-12));
  CHECK(mean_point_distance(predicted, truth) == doctest::Approx((5 + 0 + 10 + 3) / 4.0).epsilon(1e-12));
  CHECK(mean_absolute_error(predicted, truth) == doctest::Approx((3 + 4 + 0 + 0 + 6 + 8 + 3 + 0) / 8.0).epsilon(1e-12));
  // NME with the two points of the truth as references: face 1's mean error 2.5 px over a distance of
  // sqrt(20^2 + 20^2).
  CHECK(face_nme_percent(predicted[0], truth[0], 0, 1) == doctest::Approx(100 * 2.5 / std::sqrt(800.0)).epsilon(1e-12));
  CHECK(contains(error_of([&] { normalized_mse(predicted, {truth[0]}, 100, 50); }), "2 predicted faces but 1"));
  CHECK(contains(error_of([&] { face_nme_percent(predicted[0], truth[0], 0, 5); }), "outside a face of 2 points"));
}

TEST_CASE("write_file_atomically replaces the whole file, whatever a crash left in its temporary file") {
  TempDir dir("atomic");
  const std::string path = dir.file("metrics.json");
  {
    std::ofstream stale(path + ".tmp");
    stale << "half a file from a process that died";
  }
  write_file_atomically(path, "{}\n");
  CHECK(data::testing::read_text(path) == "{}\n");
  CHECK(!std::filesystem::exists(path + ".tmp"));
  write_file_atomically(path, "[]\n");
  CHECK(data::testing::read_text(path) == "[]\n");
}

TEST_CASE("300-W's failure rate, CED and AUC equal values worked out by hand") {
  const std::vector<double> nme = {2.0, 4.0, 8.0, 10.0};  // percent
  // Failures are the faces above 8%: one of four.
  CHECK(failure_rate_percent(nme, 8.0) == doctest::Approx(25.0));
  CHECK(failure_rate_percent(nme, 1.0) == doctest::Approx(100.0));
  CHECK(ced_at(nme, 3.9) == doctest::Approx(0.25));
  CHECK(ced_at(nme, 4.0) == doctest::Approx(0.5));
  CHECK(ced_at(nme, 8.0) == doctest::Approx(0.75));
  // The CED is 0 on [0, 2), 1/4 on [2, 4), 1/2 on [4, 8): its area up to 8 is 1/4 * 2 + 1/2 * 4 = 2.5, over 8.
  CHECK(ced_auc(nme, 8.0) == doctest::Approx(2.5 / 8.0));
  CHECK(ced_auc({0.0}, 8.0) == doctest::Approx(1.0));
  CHECK(ced_auc({9.0, 12.0}, 8.0) == doctest::Approx(0.0));
}

TEST_CASE("the cosine schedule starts at lr, ends at the floor, warms up linearly") {
  // torch.optim.lr_scheduler.CosineAnnealingLR(T_max=20, eta_min=0.02) from 0.1: 0.1, 0.06 at 10, then
  // 0.02, held after T_max.
  const Schedule to_fifth{Schedule::Cosine, 0, 0.2};
  CHECK(scheduled_lr(0.1, to_fifth, 0, 21, 0) == doctest::Approx(0.1));
  CHECK(scheduled_lr(0.1, to_fifth, 10, 21, 0) == doctest::Approx(0.06));
  CHECK(scheduled_lr(0.1, to_fifth, 20, 21, 0) == doctest::Approx(0.02));
  CHECK(scheduled_lr(0.1, to_fifth, 30, 21, 0) == doctest::Approx(0.02));
  const Schedule cosine{Schedule::Cosine, 0, 0.0};
  CHECK(scheduled_lr(1e-3, cosine, 0, 101, 0) == doctest::Approx(1e-3));
  CHECK(scheduled_lr(1e-3, cosine, 50, 101, 0) == doctest::Approx(0.5e-3));
  CHECK(scheduled_lr(1e-3, cosine, 100, 101, 0) == doctest::Approx(0.0));
  const Schedule floor{Schedule::Cosine, 0, 0.1};
  CHECK(scheduled_lr(1e-3, floor, 100, 101, 0) == doctest::Approx(1e-4));
  const Schedule warm{Schedule::Constant, 1, 0.0};
  CHECK(scheduled_lr(1e-3, warm, 0, 100, 10) == doctest::Approx(1e-4));
  CHECK(scheduled_lr(1e-3, warm, 5, 100, 10) == doctest::Approx(0.55e-3));
  CHECK(scheduled_lr(1e-3, warm, 50, 100, 10) == doctest::Approx(1e-3));
  CHECK(parse_schedule("constant") == Schedule::Constant);
  CHECK(contains(error_of([] { parse_schedule("linear"); }), "expected cosine or constant"));
}

TEST_CASE("the run folder's log round-trips and a malformed row is named") {
  TempDir dir("train_log");
  RunFolder run(dir.file("run"));
  const std::vector<EpochRecord> log = {{1, 0.5, 0.25, 0.125, 1e-3, 2.5}, {2, 0.25, 0.125, 0.0625, 5e-4, 2.25}};
  run.write_log(log);
  const std::vector<EpochRecord> back = run.read_log();
  REQUIRE(back.size() == 2);
  CHECK(back[1].epoch == 2);
  CHECK(back[1].val_metric == 0.0625);
  CHECK(back[0].lr == 1e-3);
  dir.write("run/log.csv", "epoch,train_loss,val_loss,val_metric,lr,seconds\n1,0.5,0.25\n");
  CHECK(contains(error_of([&] { run.read_log(); }), "log.csv:2: malformed row"));
  run.update_metrics({{"a", 1}});
  run.update_metrics({{"b", {{"c", 2}}}});
  CHECK(run.read_metrics() == nlohmann::json({{"a", 1}, {"b", {{"c", 2}}}}));
}

namespace {

std::unique_ptr<Sequential> tiny_net(uint64_t seed) {
  Rng rng(seed);
  return make_conv_net({.stages = {{8, 5}, {16, 3}}, .hidden = {32}, .batch_norm = true}, 30, 40, 116, rng);
}

// The three IMM fixture faces at 40x30, augmented with mirroring.
data::KeypointDataset fixture_faces() { return imm_fixture_faces({"01-1m.asf", "19-1m.asf", "36-1m.asf"}); }

struct Run {
  std::vector<EpochRecord> log;
  std::vector<Tensor> weights;  // parameters and buffers after the last epoch
};

// Trains the tiny net for `epochs` in `folder`, augmented or not; with stop_after > 0 the run dies (an exception from
// validation, as a kill would) during the epoch after that one, before its checkpoint.
// MSE that raises `signal` in this process at its `at`-th evaluation (0: never), as a user's Ctrl-C or a
// scheduler's SIGTERM would arrive in the middle of a step.
class SignallingLoss : public MSELoss {
 public:
  SignallingLoss(int signal, int at) : signal_(signal), at_(at) {}

 protected:
  void compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) override {
    if (++calls_ == at_) std::raise(signal_);
    MSELoss::compute(loss, pred, target, impl);
  }

 private:
  int signal_, at_, calls_ = 0;
};

Run train_tiny(const std::string& folder, int epochs, bool resume, int stop_after, bool augment,
               uint64_t init_seed = 1, int signal = 0, int signal_at_loss = 0,
               const std::function<void(Module&)>& after_epoch_2 = {},
               const std::function<void(const std::string&)>& before_write = {}, int loss_read_every = 0) {
  const data::KeypointDataset faces = fixture_faces();
  auto model = tiny_net(init_seed);
  SignallingLoss loss(signal, signal_at_loss);
  Adam adam(*model);  // its rate comes from FitOptions::lr
  place(*model, loss, adam, Device::CPU, Impl::Fast);
  data::DataLoader loader(faces, {.batch_size = 2, .seed = 5, .augment = augment, .prefetch_batches = 0});
  RunFolder run(folder);
  FitOptions options{
      .epochs = epochs, .lr = 3e-3, .resume = resume, .loss_read_every = loss_read_every, .before_write = before_write};
  Trainer trainer(*model, loss, adam, run, tiny_card(), options);
  int validations = 0;
  auto validate = [&] {
    if (stop_after > 0 && ++validations > stop_after) throw std::runtime_error("killed");
    const Predictions p = predict_dataset(*model, loss, faces, 3, Device::CPU);
    // after this epoch's validation, which would refuse a model that predicts NaN
    if (after_epoch_2 && ++validations == 2) after_epoch_2(*model);
    return Validation{p.loss, normalized_mse(p.predicted, p.truth, 640, 480)};
  };
  Run result;
  result.log = trainer.fit(loader, validate);
  for (auto& [name, tensor] : named_buffers(*model)) result.weights.push_back(tensor->clone());
  for (auto& [name, p] : named_parameters(*model)) result.weights.push_back(p->value.clone());
  return result;
}

bool bitwise_equal(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].bytes() != b[i].bytes() || std::memcmp(a[i].raw(), b[i].raw(), a[i].bytes()) != 0) return false;
  return true;
}

}  // namespace

TEST_CASE("train::step is zero_grad, forward, loss, backward and the update; a non-finite loss updates nothing") {
  // Two steps against the same two steps written out: gradients left over from the first (a step that
  // does not zero them) would change the second's update.
  auto stepped = tiny_net(3), written = tiny_net(3);
  MSELoss stepped_loss, written_loss;
  Adam stepped_adam(*stepped), written_adam(*written);
  auto parameters = [](Module& model, bool with_grads) {
    std::vector<Tensor> tensors;
    for (auto& [name, p] : named_parameters(model)) {
      tensors.push_back(p->value.clone());
      if (with_grads) tensors.push_back(p->grad.clone());
    }
    return tensors;
  };
  Rng rng(4);
  for (int i = 0; i < 2; ++i) {
    const Tensor images = Tensor::uniform({2, 1, 30, 40}, rng, 0, 1);
    const Tensor targets = Tensor::uniform({2, 116}, rng, -1, 1);
    const StepResult result = train::step(*stepped, stepped_loss, stepped_adam, images, targets);
    written_adam.zero_grad();
    const Tensor prediction = written->forward(images, Mode::Train);
    const double value = loss_value(written_loss.forward(prediction, targets));
    written->backward(written_loss.backward());
    written_adam.step();
    CHECK(result.loss == value);
    CHECK(bitwise_equal({result.prediction}, {prediction}));
    CHECK(bitwise_equal(parameters(*stepped, true), parameters(*written, true)));
  }
  // A NaN target: no backward, no update, so the caller can look for the cause in unchanged parameters.
  const std::vector<Tensor> before = parameters(*stepped, false);
  const Tensor images = Tensor::uniform({2, 1, 30, 40}, rng, 0, 1);
  const Tensor targets = Tensor::full({2, 116}, std::nan(""));
  CHECK(std::isnan(train::step(*stepped, stepped_loss, stepped_adam, images, targets).loss));
  CHECK(bitwise_equal(parameters(*stepped, false), before));
  CHECK(stepped_adam.steps_taken() == 2);
}

TEST_CASE("a few epochs on fixture faces lower the loss, and write the run folder") {
  TempDir dir("train_fixture");
  const Run run = train_tiny(dir.file("run"), 20, false, 0, false);
  REQUIRE(run.log.size() == 20);
  MESSAGE("training loss ", run.log.front().train_loss, " -> ", run.log.back().train_loss, ", validation ",
          run.log.front().val_loss, " -> ", run.log.back().val_loss);
  CHECK(run.log.back().train_loss < 0.6 * run.log.front().train_loss);
  CHECK(run.log.back().val_loss < run.log.front().val_loss);
  RunFolder folder(dir.file("run"));
  CHECK(folder.read_log().size() == 20);
  const ModelCard card = read_card(folder.last_checkpoint());
  CHECK(card.app == "test_app");
  CHECK(card.input_width == 40);
  CHECK(read_safetensors(folder.last_checkpoint()).metadata.at("train.epoch") == "20");
  CHECK(std::filesystem::exists(optimizer_state_path(folder.best_checkpoint())));
  // Starting again over a finished run would overwrite it: refused.
  CHECK(contains(error_of([&] { train_tiny(dir.file("run"), 20, false, 0, false); }), "pass --resume"));
}

TEST_CASE("a run killed after epoch 2 and resumed ends bitwise equal to one never stopped") {
  TempDir dir("train_resume");
  const Run whole = train_tiny(dir.file("whole"), 4, false, 0, true);
  CHECK_THROWS_WITH(train_tiny(dir.file("killed"), 4, false, 2, true), "killed");
  CHECK(RunFolder(dir.file("killed")).read_log().size() == 2);
  // The resumed process starts from other initial weights: everything must come from the checkpoint.
  const Run resumed = train_tiny(dir.file("killed"), 4, true, 0, true, /*init_seed=*/99);
  REQUIRE(resumed.log.size() == 4);
  for (size_t e = 0; e < 4; ++e) {
    CHECK(resumed.log[e].train_loss == whole.log[e].train_loss);
    CHECK(resumed.log[e].val_metric == whole.log[e].val_metric);
  }
  CHECK(bitwise_equal(resumed.weights, whole.weights));
  // The best checkpoints too: the same epoch, weights and metadata; the metric kept to the last bit, so that a
  // resumed run compares later epochs against exactly what the uninterrupted one does.
  const SafetensorsFile best_whole = read_safetensors(RunFolder(dir.file("whole")).best_checkpoint());
  const SafetensorsFile best_resumed = read_safetensors(RunFolder(dir.file("killed")).best_checkpoint());
  CHECK(best_resumed.metadata == best_whole.metadata);
  REQUIRE(best_resumed.tensors.size() == best_whole.tensors.size());
  for (const auto& [name, entry] : best_whole.tensors) CHECK(best_resumed.tensors.at(name).data == entry.data);
  const int best_epoch = std::stoi(best_whole.metadata.at("train.best_epoch"));
  CHECK(std::stod(best_whole.metadata.at("train.best_metric")) == whole.log.at(best_epoch - 1).val_metric);
  // Without the checkpoint there is nothing to resume, and the error says so.
  CHECK(contains(error_of([&] { train_tiny(dir.file("empty"), 4, true, 0, true); }), "holds no checkpoint to resume"));
  // A model file that is not a training checkpoint (no train.* metadata) is named, not resumed.
  RunFolder foreign(dir.file("foreign"));
  auto net = tiny_net(1);
  Adam adam(*net);
  save_model(*net, foreign.last_checkpoint(), tiny_card());
  save_optimizer(adam, optimizer_state_path(foreign.last_checkpoint()));
  CHECK(contains(error_of([&] { train_tiny(dir.file("foreign"), 4, true, 0, true); }), "not a training checkpoint"));
}

TEST_CASE("SIGTERM or Ctrl-C saves a checkpoint where the run stopped; --resume from it ends bitwise equal") {
  TempDir dir("train_signal");
  struct sigaction before {};
  sigaction(SIGTERM, nullptr, &before);
  const Run whole = train_tiny(dir.file("whole"), 4, false, 0, true);
  // Each epoch evaluates the loss 3 times: 2 training steps (3 faces, batches of 2), then validation.
  struct Case {
    int signal, at_loss;
    const char* says;
    const char* position;  // epoch:step of the saved pair
  };
  for (const Case c : {Case{SIGTERM, 4, "SIGTERM in epoch 2: saved", "1:1"},        // epoch 2, first step
                       Case{SIGINT, 3, "SIGINT (Ctrl-C) in epoch 1: saved", "1:0"}}) {  // epoch 1's validation
    INFO(c.says);
    const std::string folder = dir.file(std::string("stopped_") + c.position);
    try {
      train_tiny(folder, 4, false, 0, true, 1, c.signal, c.at_loss);
      FAIL("the run was not interrupted");
    } catch (const Interrupted& stopped) {
      CHECK(stopped.signal == c.signal);
      CHECK(contains(stopped.what(), c.says));
      CHECK(contains(stopped.what(), "--resume"));
    }
    CHECK(read_safetensors(RunFolder(folder).last_checkpoint()).metadata.at("train.position") == c.position);
    const Run resumed = train_tiny(folder, 4, true, 0, true, /*init_seed=*/99);
    REQUIRE(resumed.log.size() == 4);
    for (size_t e = 0; e < 4; ++e) CHECK(resumed.log[e].train_loss == whole.log[e].train_loss);
    CHECK(bitwise_equal(resumed.weights, whole.weights));
  }
  // The handlers are the process's own again after fit().
  struct sigaction after {};
  sigaction(SIGTERM, nullptr, &after);
  CHECK((after.sa_handler == before.sa_handler));

  // A model and an optimizer state from two different saves do not make a pair.
  const std::string folder = dir.file("mismatch");
  CHECK_THROWS_AS(train_tiny(folder, 4, false, 0, true, 1, SIGTERM, 4), Interrupted);
  RunFolder run(folder);
  std::filesystem::copy_file(optimizer_state_path(run.best_checkpoint()), optimizer_state_path(run.last_checkpoint()),
                             std::filesystem::copy_options::overwrite_existing);
  CHECK(contains(error_of([&] { train_tiny(folder, 4, true, 0, true); }), "the pair cannot resume a run exactly"));
}

TEST_CASE("a run killed at each write point in turn resumes from its newest pair to the same weights, bitwise") {
  TempDir dir("train_fault");
  const Run whole = train_tiny(dir.file("whole"), 3, false, 0, true);
  std::vector<std::string> steps;
  train_tiny(dir.file("count"), 3, false, 0, true, 1, 0, 0, {}, [&](const std::string& step) { steps.push_back(step); });
  // Each epoch: the log, then the last pair and (when the metric improved) the best pair, each as
  // model pending, optimizer pending, optimizer rename, model rename.
  REQUIRE(steps.size() >= 3 * 5);
  CHECK(std::count(steps.begin(), steps.end(), "log") == 3);
  for (size_t kill_at = 0; kill_at < steps.size(); ++kill_at) {
    INFO("killed before ", steps[kill_at], " (write point ", kill_at, ")");
    const std::string folder = dir.file("killed_" + std::to_string(kill_at));
    size_t calls = 0;
    CHECK_THROWS_WITH(train_tiny(folder, 3, false, 0, true, 1, 0, 0, {},
                                 [&](const std::string&) {
                                   if (calls++ == kill_at) throw std::runtime_error("killed");
                                 }),
                      "killed");
    // The newest pair loads (or there is none yet, and the run starts again).
    const bool saved = std::filesystem::exists(RunFolder(folder).last_checkpoint());
    // Resumed, the initial weights must not matter (99); started again, they are the run's (1).
    const Run resumed = train_tiny(folder, 3, saved, 0, true, saved ? 99 : 1);
    REQUIRE(resumed.log.size() == 3);
    for (size_t e = 0; e < 3; ++e) CHECK(resumed.log[e].train_loss == whole.log[e].train_loss);
    CHECK(bitwise_equal(resumed.weights, whole.weights));
  }
}

TEST_CASE("a non-finite loss stops training, names the step and where it came from, and keeps the checkpoint") {
  TempDir dir("train_nan");
  struct Case {
    std::function<void(Module&)> poison;
    std::string says;
  };
  // The output layer's parameters, so that the NaN reaches the loss straight away.
  const std::string output_bias = named_parameters(*tiny_net(1)).back().first;
  const std::vector<Case> cases = {
      {[](Module& m) { named_parameters(m).back().second->value.set({0}, std::nan("")); },
       "the parameter '" + output_bias + "' is not finite"},
      {[](Module& m) {  // the output layer's weights: finite outputs whose squares overflow
         Tensor& weight = named_parameters(m)[named_parameters(m).size() - 2].second->value;
         weight = Tensor::full(weight.shape(), 3e38);
       },
       "every layer's output is finite: the loss itself overflowed"},
      {[](Module& m) {  // the hidden layer's weights: its outputs overflow
         Tensor& weight = named_parameters(m)[named_parameters(m).size() - 4].second->value;
         weight = Tensor::full(weight.shape(), 3e38);
       },
       ") is the first that is not finite"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string folder = dir.file("run" + std::to_string(i));
    const std::string message = error_of([&] { train_tiny(folder, 4, false, 0, false, 1, 0, 0, cases[i].poison); });
    INFO(message);
    CHECK(contains(message, "epoch 3, step 1: the training loss is"));
    CHECK(contains(message, cases[i].says));
    CHECK(contains(message, "the last good checkpoint is " + RunFolder(folder).last_checkpoint() + " (after epoch 2)"));
    CHECK(read_safetensors(RunFolder(folder).last_checkpoint()).metadata.at("train.epoch") == "2");
  }
  // A NaN BatchNorm running mean leaves the training loss finite (train mode normalises by the batch's own
  // statistics) but makes the eval-mode predictions NaN: validation stops the run, naming the checkpoint.
  const std::string folder = dir.file("run_bn");
  const std::string message = error_of([&] {
    train_tiny(folder, 4, false, 0, false, 1, 0, 0,
               [](Module& m) { named_buffers(m).front().second->set({0}, std::nan("")); });
  });
  INFO(message);
  CHECK(contains(message, "epoch 3: validation failed: "));
  CHECK(contains(message, "the model produced non-finite points"));
  CHECK(contains(message, "the last good checkpoint is " + RunFolder(folder).last_checkpoint() + " (after epoch 2)"));
}

TEST_CASE("reading the loss every few steps gives the same epoch losses and weights, bitwise") {
  TempDir dir("train_read_every");
  const Run every_step = train_tiny(dir.file("every"), 3, false, 0, true, 1, 0, 0, {}, {}, 1);
  for (const int read_every : {2, 3, 16}) {
    INFO("loss read every ", read_every, " steps");
    const Run deferred = train_tiny(dir.file("deferred" + std::to_string(read_every)), 3, false, 0, true, 1, 0, 0, {},
                                    {}, read_every);
    REQUIRE(deferred.log.size() == every_step.log.size());
    for (size_t e = 0; e < every_step.log.size(); ++e) CHECK(deferred.log[e].train_loss == every_step.log[e].train_loss);
    CHECK(bitwise_equal(deferred.weights, every_step.weights));
  }
}

namespace {
// MSE that is NaN for a batch of one image (the last, short batch of each epoch of the three fixture faces
// in batches of two): the same batch gives the same NaN when its step is replayed.
class NanForOneImage : public MSELoss {
 protected:
  void compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) override {
    MSELoss::compute(loss, pred, target, impl);
    if (pred.dim(0) == 1) loss.set({0}, std::nan(""));
  }
};
}  // namespace

TEST_CASE("a non-finite loss read steps later is still named by its step, with the parameters before it") {
  // Read every step, the loss of epoch 1's second step stops the run there; read every 4 steps, it is
  // found after the step's update ran, and the replay from the state before the unread steps must name
  // the same step, say the same, and leave the same parameters.
  TempDir dir("train_nan_deferred");
  const data::KeypointDataset faces = fixture_faces();
  auto run = [&](int read_every) {
    auto model = tiny_net(1);
    NanForOneImage loss;
    Adam adam(*model);
    place(*model, loss, adam, Device::CPU, Impl::Fast);
    data::DataLoader loader(faces, {.batch_size = 2, .shuffle = false, .prefetch_batches = 0});
    RunFolder folder(dir.file("run" + std::to_string(read_every)));
    Trainer trainer(*model, loss, adam, folder, tiny_card(), FitOptions{.epochs = 2, .lr = 3e-3, .loss_read_every = read_every});
    const std::string message = error_of([&] { trainer.fit(loader, [] { return Validation{}; }); });
    std::vector<Tensor> weights;
    for (auto& [name, p] : named_parameters(*model)) weights.push_back(p->value.clone());
    return std::pair{message, weights};
  };
  const auto [every_step, every_step_weights] = run(1);
  const auto [deferred, deferred_weights] = run(4);
  INFO(every_step);
  CHECK(contains(every_step, "epoch 1, step 2: the training loss is nan; "));
  const auto without_folder = [](const std::string& message) { return message.substr(0, message.find(". Training")); };
  CHECK(without_folder(deferred) == without_folder(every_step));
  CHECK(bitwise_equal(deferred_weights, every_step_weights));
}

TEST_CASE("CSV fields with commas, quotes or newlines are quoted as RFC 4180 says; others are left bare") {
  CHECK(csv_field("plain.jpg") == "plain.jpg");
  CHECK(csv_field("a,b.jpg") == "\"a,b.jpg\"");
  CHECK(csv_field("say \"cheese\".jpg") == "\"say \"\"cheese\"\".jpg\"");
  CHECK(csv_field("two\nlines.jpg") == "\"two\nlines.jpg\"");
  CHECK(csv_field("cr\r.jpg") == "\"cr\r.jpg\"");
  CsvWriter csv(3, true);
  (csv << "x,y" << 1 << 2.5).end_row();
  csv.row({"a", "b\"c"});
  CHECK(csv.str() == "\"x,y\",1,2.500\na,\"b\"\"c\"\n");
}

TEST_CASE("--resume refuses another recipe, naming every difference; numbers compare by value") {
  ModelCard run = tiny_card(), command = tiny_card();
  run.recipe = {{"split", "fold2"}, {"lr", "0.001000"}, {"seed", "3"}};
  command.recipe = {{"split", "fold2"}, {"lr", "0.001"}, {"seed", "3"}};
  CHECK_NOTHROW(check_same_recipe(run, command, "last.safetensors"));
  command.recipe = {{"split", "final"}, {"lr", "0.002"}, {"seed", "3"}, {"split_seed", "0"}};
  command.architecture = run.architecture + "-integral";
  const std::string message = error_of([&] { check_same_recipe(run, command, "last.safetensors"); });
  CHECK(contains(message, "architecture: the run has '" + run.architecture + "', this command gives '" +
                              run.architecture + "-integral'"));
  CHECK(contains(message, "last.safetensors: --resume continues the run as it was started"));
  CHECK(contains(message, "split: the run has 'fold2', this command gives 'final'"));
  CHECK(contains(message, "lr: the run has '0.001000', this command gives '0.002'"));
  CHECK(contains(message, "split_seed: not recorded in the run"));
  CHECK(!contains(message, "seed: the run has"));
  // and the other way: an entry the run recorded that this command does not give
  run.recipe["batch_norm_statistics"] = "global batch (--sync-batch-norm)";
  command.recipe = {{"split", "fold2"}, {"lr", "0.001"}, {"seed", "3"}};
  command.architecture = run.architecture;
  const std::string recorded = error_of([&] { check_same_recipe(run, command, "last.safetensors"); });
  CHECK(contains(recorded, "recipe differs:\n  batch_norm_statistics: the run has 'global batch (--sync-batch-norm)', "
                           "this command does not set it\npass the run's flags again"));
}

TEST_CASE("a run folder has one writer: a second lock names the holder's pid, and the lock dies with it") {
  TempDir dir("train_lock");
  {
    const RunLock held(dir.file("run"));
    CHECK(contains(error_of([&] { RunLock second(dir.file("run")); }),
                   "run folder " + dir.file("run") + " is in use by pid " + std::to_string(::getpid())));
  }
  CHECK_NOTHROW(RunLock(dir.file("run")));
  // Another process that dies by SIGKILL while holding it releases it too. The child takes the lock as
  // RunLock does, with raw system calls only: after fork() in a threaded process, nothing that might
  // allocate is safe to call.
  const std::string lock_path = dir.file("run") + "/.lock";
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int fd = ::open(lock_path.c_str(), O_RDWR);
    char pid[16];
    const int length = std::snprintf(pid, sizeof pid, "%d", static_cast<int>(::getpid()));
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid, length, 0) != length)
      _exit(1);
    for (;;) pause();
  }
  std::string message;
  for (int tries = 0; tries < 3000 && !contains(message, "in use by pid " + std::to_string(child)); ++tries) {
    message = error_of([&] { RunLock probe(dir.file("run")); });
    usleep(10000);
  }
  CHECK(contains(message, "in use by pid " + std::to_string(child)));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  CHECK_NOTHROW(RunLock(dir.file("run")));
}

TEST_CASE("a model that predicts non-finite points is an error naming the image or face, not output") {
  // Weights set to NaN after construction (past the load check, which refuses such a file). The first
  // layer's weight reaches the output only because ReLU and max pooling propagate NaN (with the old
  // ReLU, which mapped NaN to 0, the prediction came out finite and wrong); the output bias directly.
  const data::KeypointDataset faces = fixture_faces();
  data::SampleOptions whole_image = faces.options();
  whole_image.mirror_permutation.clear();
  const data::Image image = data::load_image(fixture("imm/01-1m.jpg"));
  train::FaceFinderOptions finder;
  finder.framing.width = 40, finder.framing.height = 30;
  finder.num_points = 58;
  for (const bool first_layer : {true, false}) {
    INFO(std::string(first_layer ? "NaN first-layer weight" : "NaN output bias"));
    auto model = tiny_net(4);
    auto parameters = named_parameters(*model);
    (first_layer ? parameters.front() : parameters.back()).second->value.data<float>()[0] = std::nanf("");
    const std::string one = error_of([&] { predict_image(*model, image, whole_image, 58, Device::CPU); });
    CHECK(contains(one, "predict: the image (" + std::to_string(image.width) + "x" + std::to_string(image.height) +
                            "): the model produced non-finite points (point 0 has x = nan); the model file or the "
                            "input is damaged"));
    MSELoss loss;
    const std::string dataset = error_of([&] { predict_dataset(*model, loss, faces, 3, Device::CPU); });
    CHECK(contains(dataset, "predict: face 0 (" + faces.record(0).image_path + "): the model produced non-finite"));
    const std::string found = error_of([&] { find_face(*model, image, finder, Device::CPU); });
    CHECK(contains(found, "face finder: the face box at ("));
    CHECK(contains(found, "the model produced non-finite points"));
  }
}

TEST_CASE("a model file of another app or input size is refused before any weight is read") {
  TempDir dir("train_card");
  auto model = tiny_net(1);
  save_model(*model, dir.file("m.safetensors"), tiny_card());
  ModelCard other_app = tiny_card();
  other_app.app = "face_points";
  CHECK(contains(error_of([&] { load_model(*model, dir.file("m.safetensors"), other_app); }),
                 "trained by the app 'test_app', not 'face_points'"));
  ModelCard other_size = tiny_card();
  other_size.input_width = 80;
  CHECK(contains(error_of([&] { load_model(*model, dir.file("m.safetensors"), other_size); }),
                 "takes 1x40x30 input, this run needs 1x80x30"));
  ModelCard other_height = tiny_card();
  other_height.input_height = 60;
  CHECK(contains(error_of([&] { load_model(*model, dir.file("m.safetensors"), other_height); }),
                 "takes 1x40x30 input, this run needs 1x40x60"));
  save_module(*model, dir.file("bare.safetensors"));
  CHECK(contains(error_of([&] { read_card(dir.file("bare.safetensors")); }), "not a keynet model file"));
  CHECK(load_model(*model, dir.file("m.safetensors"), tiny_card()).at("keynet.app") == "test_app");
}

TEST_CASE("test-time mirroring averages each prediction with the mirror image's, flipped back and relabelled") {
  auto model = tiny_net(3);
  const std::vector<int> perm =
      data::imm_mirror_permutation();
  // A left-right symmetric image is its own mirror image, so the mirrored prediction of point k is the
  // direct prediction of its partner perm[k] with x negated (targets are (2x+1)/W - 1).
  Rng rng(11);
  Tensor image = Tensor::empty({1, 1, 30, 40});
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 20; ++x) {
      const double v = rng.uniform(-0.5, 0.5);
      image.set({0, 0, y, x}, v);
      image.set({0, 0, y, 39 - x}, v);
    }
  const std::vector<float> direct = predict_normalized(*model, image, Device::CPU).to_float_vector();
  const std::vector<float> averaged = predict_normalized(*model, image, Device::CPU, perm).to_float_vector();
  REQUIRE(averaged.size() == 116);
  double largest_change = 0;
  for (int k = 0; k < 58; ++k) {
    CHECK(averaged[2 * k] == doctest::Approx(0.5 * (direct[2 * k] - direct[2 * perm[k]])).epsilon(1e-5));
    CHECK(averaged[2 * k + 1] == doctest::Approx(0.5 * (direct[2 * k + 1] + direct[2 * perm[k] + 1])).epsilon(1e-5));
    largest_change = std::max(largest_change, std::abs(double(averaged[2 * k]) - direct[2 * k]));
  }
  CHECK(largest_change > 1e-3);  // the averaging did something
  CHECK(contains(error_of([&] { predict_normalized(*model, image, Device::CPU, {0, 1}); }), "2 labels"));
}

// Fills the filesystem holding `path` with one file until a write fails for lack of space.
void fill_disk(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file);
  const std::vector<char> block(64 * 1024, 'x');
  std::setvbuf(file, nullptr, _IONBF, 0);
  while (std::fwrite(block.data(), 1, block.size(), file) == block.size()) {
  }
  const int error = errno;
  std::fclose(file);
  REQUIRE(error == ENOSPC);
}

// Needs a small filesystem of its own, so it runs through scripts/with-small-disk.sh (CTest's
// "full_disk", which mounts a private 4 MiB tmpfs) and is skipped in the plain test_train run.
TEST_CASE("a full disk during a save leaves the previous checkpoint pair whole and says so" * doctest::skip()) {
  const char* small_disk = std::getenv("KEYNET_SMALL_DISK");
  REQUIRE_MESSAGE(small_disk, "run through scripts/with-small-disk.sh, which mounts a small filesystem");
  TempDir dir("train_full_disk");
  const Run whole = train_tiny(dir.file("whole"), 3, false, 0, true);
  // The disk fills before epoch 2's model file, then before its optimizer state (the model written).
  for (int full_at_pending : {0, 1}) {
    INFO("disk full before pending write ", full_at_pending, " of epoch 2");
    const std::string folder = std::string(small_disk) + "/run" + std::to_string(full_at_pending);
    const std::string filler = std::string(small_disk) + "/filler";
    int logs = 0, pending = 0;
    const std::string message = error_of([&] {
      train_tiny(folder, 3, false, 0, true, 1, 0, 0, {}, [&](const std::string& step) {
        if (step == "log") ++logs;
        if (logs == 2 && step.ends_with(" pending") && pending++ == full_at_pending) fill_disk(filler);
      });
    });
    INFO(message);
    CHECK(contains(message, "saving the checkpoint after epoch 2 failed"));
    CHECK(contains(message, "No space left on device"));
    // Epoch 2 improved the metric, so its best pair is the first write that fails.
    CHECK(contains(message, "the previous checkpoint pair (" + RunFolder(folder).best_checkpoint() + ") is intact"));
    CHECK(read_safetensors(RunFolder(folder).best_checkpoint()).metadata.at("train.epoch") == "1");
    for (const auto& entry : std::filesystem::recursive_directory_iterator(RunFolder(folder).root())) {
      const std::string name = entry.path().string();
      CHECK_MESSAGE(!(name.ends_with(".tmp") || name.ends_with(".pending")), name, " was left behind");
    }
    CHECK(read_safetensors(RunFolder(folder).last_checkpoint()).metadata.at("train.epoch") == "1");
    // With the space back, --resume finishes the run as if the disk had never filled.
    std::filesystem::remove(filler);
    const Run resumed = train_tiny(folder, 3, true, 0, true, 99);
    CHECK(bitwise_equal(resumed.weights, whole.weights));
    std::filesystem::remove_all(folder);
  }
}
