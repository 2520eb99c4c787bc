// Data-parallel training on two ranks (CTest runs this under `mpirun -np 2`): the step and the Trainer
// against one process training the same global batches. The sums over ranks are taken in another
// order than one process's, so results agree within a tolerance, not bitwise.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>

#include "data/loader.h"
#include "layers/nets.h"
#include "support/train_fixtures.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/metrics.h"
#include "train/step.h"
#include "train/trainer.h"

using namespace keynet;
using namespace keynet::train;
using keynet::testing::imm_fixture_faces;
using keynet::testing::tiny_card;

namespace {

// Every float of the parameters and the optimizer's state, in visiting order.
class StateCollector : public ParamVisitor {
 public:
  void parameter(const std::string&, Parameter& p) override { add(p.value); }
  void buffer(const std::string&, Tensor& value) override { add(value); }
  void counter(const std::string&, int64_t& value) override { values.push_back(static_cast<double>(value)); }
  std::vector<double> values;

 private:
  void add(const Tensor& t) {
    const Tensor host = t.to(Device::CPU);
    for (int64_t i = 0; i < host.numel(); ++i) values.push_back(host.data<float>()[i]);
  }
};

std::vector<double> parameters_and_adam_state(Module& model, Optimizer& optimizer) {
  StateCollector collector;
  for (auto& [name, p] : named_parameters(model)) collector.parameter(name, *p);
  optimizer.visit_state(collector);
  return collector.values;
}

// Every float of the parameters and buffers (BatchNorm's running statistics) and the counters, in visiting order.
std::vector<double> module_state(Module& model) {
  StateCollector collector;
  model.visit(collector, "");
  return collector.values;
}

// The largest difference relative to the values' scale.
double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double scale = 0, worst = 0;
  for (size_t i = 0; i < a.size(); ++i) scale = std::max(scale, std::abs(a[i]));
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / scale);
  return worst;
}

// Float sums in another order, amplified a little by Adam's division: a few steps stay within this.
constexpr double kTolerance = 1e-5;

std::unique_ptr<Sequential> small_net(bool batch_norm) {
  Rng rng(3);
  return make_conv_net({.stages = {{4, 3}, {8, 3}}, .hidden = {16}, .batch_norm = batch_norm}, 16, 16, 4, rng);
}

struct Batches {
  std::vector<Tensor> images, targets;  // global batches of 8
};
Batches synthetic_batches(int steps) {
  Rng rng(11);
  Batches b;
  for (int s = 0; s < steps; ++s) {
    b.images.push_back(Tensor::uniform({8, 1, 16, 16}, rng, -0.5, 0.5));
    b.targets.push_back(Tensor::uniform({8, 4}, rng, -1, 1));
  }
  return b;
}

Tensor rows(const Tensor& t, int64_t first, int64_t count) {  // rows first .. first + count - 1 of a batch
  Shape shape = t.shape();
  const int64_t row = t.numel() / shape[0];
  shape[0] = count;
  return t.view(first * row, shape).clone();
}

Tensor half(const Tensor& t, int which) { return rows(t, 4 * which, 4); }  // of a batch of 8

// A BatchNorm net synchronised over the two ranks, and the same net alone in this process.
struct SynchronisedNets {
  std::unique_ptr<Communicator> communicator = make_communicator(Device::CPU);
  std::unique_ptr<Sequential> net = small_net(true), alone = small_net(true);
  DataParallel parallel{*communicator, *net};
  SynchronisedNets() { synchronise_batch_norms(*net, &parallel); }
};

void require_two_ranks() { REQUIRE_MESSAGE(world().size == 2, "run this suite with mpirun -np 2"); }

}  // namespace

TEST_CASE("two ranks with batch 4 each take the steps one process takes with batch 8") {
  require_two_ranks();
  const Batches data = synthetic_batches(4);
  auto communicator = make_communicator(Device::CPU);
  REQUIRE(communicator);
  auto net = small_net(false);
  Adam adam(*net, {.lr = 1e-2});
  MSELoss loss;
  DataParallel parallel(*communicator, *net, /*bucket_bytes=*/1024);  // several buckets
  auto alone = small_net(false);
  Adam alone_adam(*alone, {.lr = 1e-2});
  MSELoss alone_loss;
  for (size_t s = 0; s < data.images.size(); ++s) {
    const int r = parallel.rank();
    const double mean = step(*net, loss, adam, half(data.images[s], r), half(data.targets[s], r), ReadLoss::Yes,
                             &parallel).loss;
    const double whole = step(*alone, alone_loss, alone_adam, data.images[s], data.targets[s]).loss;
    CHECK(mean == doctest::Approx(whole).epsilon(1e-5));
  }
  const double difference = max_relative_difference(parameters_and_adam_state(*net, adam),
                                                    parameters_and_adam_state(*alone, alone_adam));
  MESSAGE("rank ", parallel.rank(), ": largest difference ", difference, " of the largest value");
  CHECK(difference < kTolerance);
}

TEST_CASE("with BatchNorm, two ranks equal one process that normalises each half-batch on its own") {
  require_two_ranks();
  const Batches data = synthetic_batches(3);
  auto communicator = make_communicator(Device::CPU);
  auto net = small_net(true);
  Adam adam(*net, {.lr = 1e-2});
  MSELoss loss;
  DataParallel parallel(*communicator, *net);
  auto alone = small_net(true);
  Adam alone_adam(*alone, {.lr = 1e-2});
  MSELoss alone_loss;
  for (size_t s = 0; s < data.images.size(); ++s) {
    const int r = parallel.rank();
    step(*net, loss, adam, half(data.images[s], r), half(data.targets[s], r), ReadLoss::Yes, &parallel);
    // Ghost batches: each half's own statistics, each half's gradient weighted 1/2, one update.
    alone_adam.zero_grad();
    for (int h = 0; h < 2; ++h) {
      const Tensor prediction = alone->forward(half(data.images[s], h), Mode::Train);
      alone_loss.forward(prediction, half(data.targets[s], h));
      alone->backward(alone_loss.backward(0.5));
    }
    alone_adam.step();
  }
  const double difference = max_relative_difference(parameters_and_adam_state(*net, adam),
                                                    parameters_and_adam_state(*alone, alone_adam));
  MESSAGE("rank ", parallel.rank(), ": largest difference ", difference, " of the largest value");
  CHECK(difference < kTolerance);
}

TEST_CASE("with synchronised BatchNorm, two ranks take the steps one process takes with batch 8, running "
          "statistics included") {
  require_two_ranks();
  const Batches data = synthetic_batches(3);
  SynchronisedNets nets;
  auto& [communicator, net, alone, parallel] = nets;
  Adam adam(*net, {.lr = 1e-2});
  MSELoss loss;
  Adam alone_adam(*alone, {.lr = 1e-2});
  MSELoss alone_loss;
  for (size_t s = 0; s < data.images.size(); ++s) {
    const int r = parallel.rank();
    step(*net, loss, adam, half(data.images[s], r), half(data.targets[s], r), ReadLoss::Yes, &parallel);
    step(*alone, alone_loss, alone_adam, data.images[s], data.targets[s]);
  }
  const double difference = max_relative_difference(parameters_and_adam_state(*net, adam),
                                                    parameters_and_adam_state(*alone, alone_adam));
  const double buffers = max_relative_difference(module_state(*net), module_state(*alone));
  MESSAGE("rank ", parallel.rank(), ": largest difference ", difference, " (parameters and Adam), ", buffers,
          " (with the running statistics) of the largest value");
  CHECK(difference < kTolerance);
  CHECK(buffers < kTolerance);
}

TEST_CASE("with synchronised BatchNorm, ranks with unequal batches (a skipped image) normalise as one "
          "process does their union") {
  require_two_ranks();
  const Batches data = synthetic_batches(2);
  SynchronisedNets nets;
  auto& [communicator, net, alone, parallel] = nets;
  for (size_t s = 0; s < data.images.size(); ++s) {
    // Batches of 3 and 5, then 5 and 3: the global batch is summed again in every step.
    const int64_t first_rows = s == 0 ? 3 : 5;
    const int64_t first = parallel.rank() == 0 ? 0 : first_rows;
    const int64_t count = parallel.rank() == 0 ? first_rows : 8 - first_rows;
    const std::vector<float> mine = net->forward(rows(data.images[s], first, count), Mode::Train).to_float_vector();
    const Tensor whole = alone->forward(data.images[s], Mode::Train);
    const std::vector<float> expected = rows(whole, first, count).to_float_vector();
    CHECK(max_relative_difference({mine.begin(), mine.end()}, {expected.begin(), expected.end()}) < kTolerance);
    parallel.sum_gradients();  // the step's end
  }
  CHECK(max_relative_difference(module_state(*net), module_state(*alone)) < kTolerance);
}

namespace {

// Four faces (the three IMM fixtures, the first twice): four divides among two ranks.
data::KeypointDataset four_faces() { return imm_fixture_faces({"01-1m.asf", "19-1m.asf", "36-1m.asf", "01-1m.asf"}); }

// MSE that raises SIGINT in this process at its `at`-th evaluation (0: never): a Ctrl-C mid-epoch.
class InterruptingLoss : public MSELoss {
 public:
  explicit InterruptingLoss(int at) : at_(at) {}

 protected:
  void compute(Tensor& out, const Tensor& pred, const Tensor& target, Impl impl) override {
    if (++calls_ == at_) std::raise(SIGINT);
    MSELoss::compute(out, pred, target, impl);
  }

 private:
  int at_, calls_ = 0;
};

struct Outcome {
  std::vector<double> state;  // parameters and optimizer state at the end
  int writes = 0;             // run-folder writes this rank made
  bool interrupted = false;
};

// Three epochs of a BatchNorm-free net with global batch 2 in `folder`, on both ranks (`parallel`) or on
// this one alone; SIGINT at loss evaluation `interrupt_at` on rank 0.
Outcome train_run(const std::string& folder, bool parallel, bool resume, int interrupt_at) {
  const data::KeypointDataset faces = four_faces();
  Rng rng(1);
  auto model = make_conv_net({.stages = {{8, 5}, {16, 3}}, .hidden = {32}}, 30, 40, 116, rng);
  InterruptingLoss loss(world().rank == 0 ? interrupt_at : 0);
  Adam adam(*model);
  place(*model, loss, adam, Device::CPU, Impl::Fast);
  auto communicator = parallel ? make_communicator(Device::CPU) : nullptr;
  std::optional<DataParallel> data_parallel;
  if (parallel) data_parallel.emplace(*communicator, *model);
  const int ranks = parallel ? 2 : 1;
  data::DataLoader loader(faces, {.batch_size = 2 / ranks, .seed = 5, .augment = true, .prefetch_batches = 0,
                                  .rank = parallel ? world().rank : 0, .ranks = ranks});
  RunFolder run(folder);
  Outcome outcome;
  FitOptions options{.epochs = 3, .lr = 3e-3, .resume = resume,
                     .before_write = [&](const std::string&) { ++outcome.writes; },
                     .parallel = data_parallel ? &*data_parallel : nullptr};
  Trainer trainer(*model, loss, adam, run, tiny_card(), options);
  try {
    trainer.fit(loader, [&] {
      const Predictions p = predict_dataset(*model, loss, faces, 4, Device::CPU);
      return Validation{p.loss, normalized_mse(p.predicted, p.truth, 640, 480)};
    });
  } catch (const Interrupted&) {
    outcome.interrupted = true;
  }
  outcome.state = parameters_and_adam_state(*model, adam);
  return outcome;
}

// One folder both ranks name (their parent, the launcher's daemon, is the same process).
std::string shared_folder(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("keynet_distributed_" + std::to_string(getppid())) / name).string();
}

}  // namespace

TEST_CASE("the Trainer on two ranks: one process's run, rank 0 alone writes, and a stopped run resumes on another "
          "number of ranks") {
  require_two_ranks();
  const bool rank0 = world().rank == 0;
  if (rank0) std::filesystem::remove_all(shared_folder(""));
  barrier();
  // The reference: rank 0 alone, never stopped.
  const Outcome alone = rank0 ? train_run(shared_folder("alone"), false, false, 0) : Outcome{};
  barrier();

  const Outcome both = train_run(shared_folder("both"), true, false, 0);
  if (!rank0) CHECK(both.writes == 0);
  if (rank0) {
    CHECK(both.writes > 0);
    const double difference = max_relative_difference(both.state, alone.state);
    MESSAGE("two ranks against one process after 3 epochs: largest difference ", difference);
    CHECK(difference < kTolerance);
  }

  SUBCASE("stopped on two ranks, resumed on one") {
    const Outcome stopped = train_run(shared_folder("2to1"), true, false, /*interrupt_at=*/4);
    CHECK(stopped.interrupted);  // on both ranks, after the same step
    barrier();
    if (rank0) {
      const Outcome resumed = train_run(shared_folder("2to1"), false, true, 0);
      CHECK(!resumed.interrupted);
      CHECK(max_relative_difference(resumed.state, alone.state) < kTolerance);
    }
    barrier();
  }
  SUBCASE("stopped on one, resumed on two") {
    if (rank0) CHECK(train_run(shared_folder("1to2"), false, false, /*interrupt_at=*/4).interrupted);
    barrier();
    const Outcome resumed = train_run(shared_folder("1to2"), true, true, 0);
    CHECK(!resumed.interrupted);
    if (rank0) CHECK(max_relative_difference(resumed.state, alone.state) < kTolerance);
    barrier();
  }
  barrier();
  if (rank0) std::filesystem::remove_all(shared_folder(""));
}
