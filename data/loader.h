// DataLoader: shuffles a KeypointDataset with a seed, builds batches as Tensors and (optionally)
// prefetches the next batches on one background thread.
//
// Determinism: the order of an epoch depends only on (seed, epoch), and the augmentation of a sample
// only on (seed, epoch, dataset index): each sample gets its own Rng, so neither thread timing nor
// the batch size nor the number of workers changes what a sample looks like.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "tensor/tensor.h"

namespace keynet::data {

struct Batch {
  Tensor images;   // (B, 1, H, W) float32 in [-0.5, 0.5] (see write_unit_range)
  Tensor targets;  // (B, 2K) float32: x0, y0, x1, y1, ... normalised by normalize_points
  std::vector<size_t> indices;  // dataset index of each row
  std::vector<Sample> samples;  // each row's sample (image, pixel points, transform back to its file)
  size_t end_position = 0;      // where the next batch starts in this epoch's order (start_epoch resumes there);
                                // with several ranks, in the global order, so any number of ranks resumes it

  size_t size() const { return indices.size(); }
  // Row i of a (B, 2K) prediction (normalised like the targets) -> pixels of the original file.
  std::vector<Point> prediction_to_original(size_t row, const float* normalized) const;
};

struct LoaderOptions {
  int batch_size = 16;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;     // drop a final batch smaller than batch_size
  bool augment = false;       // apply the dataset's augmentation options
  int prefetch_batches = 2;   // queued ahead by the background thread; 0 builds batches in next()
  bool skip_bad = false;      // leave out samples whose image cannot be loaded, and list them in skipped()
  int workers = 1;            // threads that build the samples of one batch (OpenMP, inside the
                              // prefetch thread); batches are the same for any count
  // Data-parallel training: this rank's share of every epoch, as PyTorch's DistributedSampler splits it
  // (the order padded to a multiple of `ranks` by repeating its first indices, then every ranks-th
  // index from `rank` on); batch_size is this rank's. Positions (start_epoch, end_position) stay global.
  int rank = 0, ranks = 1;
};

struct SkippedSample {
  size_t index;  // dataset index
  std::string file;
  std::string reason;
};

class DataLoader {
 public:
  // Keeps a reference: the dataset must outlive the loader.
  DataLoader(const KeypointDataset& dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts an epoch (stopping any unfinished one). Epochs may be started in any order. A run resumed in
  // the middle of an epoch starts at the end_position of the last batch it trained on.
  void start_epoch(int epoch, size_t first_position = 0);
  // The next batch of the current epoch, or nullopt when it is over. Rethrows a loading error.
  std::optional<Batch> next();

  size_t batches_per_epoch() const;                 // assuming no sample is skipped
  const std::vector<size_t>& order() const { return order_; }  // this epoch's dataset indices
  std::vector<SkippedSample> skipped() const;       // skipped so far (all epochs), without repeats
  const LoaderOptions& options() const { return options_; }

  // The per-sample augmentation stream: a pure function of (seed, epoch, index).
  static Rng sample_rng(uint64_t seed, int epoch, size_t index);

 private:
  struct Item {
    std::optional<Batch> batch;   // nullopt with no error: end of epoch
    std::exception_ptr error;
  };

  Sample load_sample(size_t index) const;
  std::optional<Batch> build_batch(size_t& cursor);  // advances cursor through order_
  void producer_loop();
  void stop();

  const KeypointDataset& dataset_;
  LoaderOptions options_;
  int epoch_ = 0;
  std::vector<size_t> order_;
  size_t cursor_ = 0;          // used without prefetching
  size_t first_position_ = 0;  // where this epoch's batches start in order_
  bool epoch_started_ = false;

  mutable std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool finished_ = false;  // producer pushed its last item
  std::thread producer_;
  std::vector<SkippedSample> skipped_;
};

}  // namespace keynet::data
