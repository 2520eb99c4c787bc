// bench_data: throughput of the data pipeline on iBUG 224x224 face crops, and whether the loader's
// prefetch thread hides loading behind a ResNet18 CPU training step.
//
//   bench_data [--data ../shared/data] [--samples 300] [--batch 16] [--workers 1] [--steps 4]
//              [--train-threads 1] [--skip-train]
//
// Single-thread rates (wall clock and per CPU-second of the thread): JPEG decode to gray; warp + augment of an already decoded image; the whole
// sample (decode, gray, crop + augmentation warp, brightness/contrast), also from images cached in
// memory, and the same for IMM 160x120 samples. Then the DataLoader with its
// background thread, consumer idle. Then ResNet18 (1 input channel, 136 outputs) training steps
// (train::step: forward, MSE, backward, Adam) on batches from the loader: with loading in the step's thread
// (prefetch 0) and with the prefetch thread (prefetch 2), against steps on one fixed batch.
#include <CLI/CLI.hpp>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>

#include "data/ibug.h"
#include "data/imm.h"
#include "data/loader.h"
#include "layers/losses.h"
#include "layers/resnet.h"
#include "optim/optimizer.h"
#include "tensor/version.h"
#include "train/step.h"

using namespace keynet;
using namespace keynet::data;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// CPU seconds used by the calling thread: on a shared machine, the rate of one core does not depend
// on how much of the core other processes took.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Runs body(i) for i < n; prints wall-clock and per-CPU-second rates; returns the CPU-time rate.
template <class Body>
double rate(const char* what, int n, Body body) {
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_seconds();
  for (int i = 0; i < n; ++i) body(i);
  const double cpu = thread_cpu_seconds() - cpu_start, wall = seconds_since(start);
  std::printf("%-24s: %8.1f samples/s wall, %8.1f per CPU-second\n", what, n / wall, n / cpu);
  return n / cpu;
}

struct TrainSetup {
  ResNet18 model;
  Adam optimizer;
  MSELoss loss;
  TrainSetup(Rng& rng) : model(1, 2 * kIbugPoints, rng), optimizer(model, AdamOptions{}) {}
  void step(const Batch& batch) { train::step(model, loss, optimizer, batch.images, batch.targets); }
};

struct StepTimes {
  double wait = 0;      // mean wall seconds per step spent in loader.next()
  double wait_cpu = 0;  // mean CPU seconds the training thread spent in loader.next()
  double total = 0;     // mean seconds per step, loading included
};

// `steps` training steps on batches from `loader` (after one untimed warm-up step). The time spent
// waiting in next() is what loading costs the training loop; it is immune to the step's own noise.
StepTimes timed_steps(TrainSetup& train, DataLoader& loader, int steps) {
  loader.start_epoch(0);
  train.step(*loader.next());
  StepTimes times;
  const auto start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    const auto before = Clock::now();
    const double cpu_before = thread_cpu_seconds();
    const std::optional<Batch> batch = loader.next();
    times.wait_cpu += thread_cpu_seconds() - cpu_before;
    times.wait += seconds_since(before);
    train.step(*batch);
  }
  times.total = seconds_since(start) / steps;
  times.wait /= steps;
  times.wait_cpu /= steps;
  return times;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Data pipeline throughput and prefetch overlap with a ResNet18 CPU step"};
  std::string data_dir = "../shared/data";
  int samples = 300, batch_size = 16, steps = 4, train_threads = 1, workers = 1;
  bool skip_train = false;
  app.add_option("--data", data_dir, "folder holding ibug_300w/");
  app.add_option("--samples", samples, "samples for the single-thread rates")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch_size, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--workers", workers, "loader threads building samples (the loader rate only)")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "timed training steps per variant")->check(CLI::PositiveNumber);
  app.add_option("--train-threads", train_threads, "CPU threads of the training step")->check(CLI::PositiveNumber);
  app.add_flag("--skip-train", skip_train, "only the loading rates");
  app.set_version_flag("--version", keynet::version_line("bench_data"));
  CLI11_PARSE(app, argc, argv);

  try {
    const std::filesystem::path root(data_dir);
    SampleOptions options;  // 224x224 face crops, default augmentation
    options.mirror_permutation = read_mirror_permutation((root / "ibug_300w/mirror_permutation_68.txt").string(), kIbugPoints);
    std::vector<LandmarkRecord> records = read_dlib_xml((root / "ibug_300w/labels_ibug_300W_train.xml").string(), kIbugPoints);
    const KeypointDataset dataset(records, options);
    samples = std::min<int>(samples, static_cast<int>(records.size()));
    std::printf("iBUG training records: %zu; %d samples per rate; crops %dx%d\n", records.size(), samples,
                options.width, options.height);

    std::vector<Image> decoded(samples);
    rate("decode (gray)", samples, [&](int i) { decoded[i] = load_gray(records[i].image_path); });
    double mean_pixels = 0;
    for (const Image& im : decoded) mean_pixels += double(im.width) * im.height / samples;
    std::printf("  (mean source image %.0f pixels)\n", mean_pixels);
    rate("crop + augment (warp)", samples, [&](int i) {
      Rng rng = DataLoader::sample_rng(1, 0, i);
      make_sample(records[i], decoded[i], options, &rng);
    });
    const double sample_rate = rate("whole sample", samples, [&](int i) {
      Rng rng = DataLoader::sample_rng(1, 0, i);
      dataset.get(i, &rng);
    });
    {
      KeypointDataset cached(std::vector<LandmarkRecord>(records.begin(), records.begin() + samples), options);
      cached.cache_images();
      rate("whole sample, cached", samples, [&](int i) {
        Rng rng = DataLoader::sample_rng(1, 0, i);
        cached.get(i, &rng);
      });
    }
    {
      // IMM 640x480 photos to 160x120 samples (the 58-point network's input), all 240 faces.
      SampleOptions imm_options;
      imm_options.framing = Framing::WholeImage;
      imm_options.width = 160, imm_options.height = 120;
      imm_options.mirror_permutation = imm_mirror_permutation();
      KeypointDataset imm(to_records(read_imm_dir((root / "imm_face_db").string())), imm_options);
      const int n = static_cast<int>(imm.size());
      rate("IMM 160x120 sample", n, [&](int i) {
        Rng rng = DataLoader::sample_rng(1, 0, i);
        imm.get(i, &rng);
      });
      imm.cache_images();
      rate("IMM 160x120, cached", n, [&](int i) {
        Rng rng = DataLoader::sample_rng(1, 0, i);
        imm.get(i, &rng);
      });
    }

    {
      DataLoader loader(dataset,
                        {.batch_size = batch_size, .seed = 1, .augment = true, .prefetch_batches = 2, .workers = workers});
      loader.start_epoch(0);
      int taken = 0;
      const auto start = Clock::now();
      while (taken < samples) {
        const std::optional<Batch> batch = loader.next();
        if (!batch) break;
        taken += static_cast<int>(batch->size());
      }
      std::printf("%-24s: %8.1f samples/s wall (batches of %d, %d worker(s), consumer idle)\n", "loader, prefetch thread",
                  taken / seconds_since(start), batch_size, workers);
    }
    if (skip_train) return 0;

    set_cpu_threads(train_threads);
    Rng rng(0);
    TrainSetup train(rng);
    DataLoader fixed_source(dataset, {.batch_size = batch_size, .seed = 1, .augment = true, .prefetch_batches = 0});
    fixed_source.start_epoch(0);
    const Batch fixed = *fixed_source.next();
    train.step(fixed);
    const auto start = Clock::now();
    for (int i = 0; i < steps; ++i) train.step(fixed);
    const double step_only = seconds_since(start) / steps;
    DataLoader sync(dataset, {.batch_size = batch_size, .seed = 1, .augment = true, .prefetch_batches = 0});
    const StepTimes with_sync = timed_steps(train, sync, steps);
    DataLoader prefetch(dataset, {.batch_size = batch_size, .seed = 1, .augment = true, .prefetch_batches = 2});
    const StepTimes with_prefetch = timed_steps(train, prefetch, steps);
    std::printf("ResNet18 training step (forward, MSE, backward, Adam), batch %d, %d CPU thread(s), mean of %d steps:\n",
                batch_size, train_threads, steps);
    std::printf("  fixed batch, no loading       : step %8.1f ms\n", 1e3 * step_only);
    std::printf("  loading in the training thread: step %8.1f ms; in next(): %7.2f ms wall, %7.2f CPU-ms\n",
                1e3 * with_sync.total, 1e3 * with_sync.wait, 1e3 * with_sync.wait_cpu);
    std::printf("  prefetch thread               : step %8.1f ms; in next(): %7.2f ms wall, %7.2f CPU-ms\n",
                1e3 * with_prefetch.total, 1e3 * with_prefetch.wait, 1e3 * with_prefetch.wait_cpu);
    std::printf("  loading is hidden while a step takes longer than loading a batch: %.1f CPU-ms (%.0f samples per CPU-second)\n",
                1e3 * batch_size / sample_rate, sample_rate);
  } catch (const keynet::Error& error) {
    std::fprintf(stderr, "bench_data: %s\n", error.what());
    return 1;
  }
  return 0;
}
