#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "tensor/error.h"

namespace keynet::data {

std::vector<Point> Batch::prediction_to_original(size_t row, const float* normalized) const {
  KEYNET_CHECK(row < samples.size(), "batch: row ", row, " out of range (size ", samples.size(), ")");
  const Sample& s = samples[row];
  return s.to_original(denormalize_points(normalized, static_cast<int>(s.points.size()), s.image.width, s.image.height));
}

namespace {
uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
constexpr uint64_t kShuffleStream = ~0ull;
}  // namespace

Rng DataLoader::sample_rng(uint64_t seed, int epoch, size_t index) {
  return Rng(mix(mix(mix(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index)));
}

DataLoader::DataLoader(const KeypointDataset& dataset, LoaderOptions options)
    : dataset_(dataset), options_(options) {
  KEYNET_CHECK(options_.batch_size > 0, "data loader: batch size must be positive, got ", options_.batch_size);
  KEYNET_CHECK(options_.workers >= 1, "data loader: workers must be >= 1, got ", options_.workers);
  KEYNET_CHECK(options_.ranks >= 1 && options_.rank >= 0 && options_.rank < options_.ranks, "data loader: rank ",
               options_.rank, " of ", options_.ranks, " ranks");
  KEYNET_CHECK(options_.prefetch_batches >= 0, "data loader: prefetch_batches must be >= 0, got ",
               options_.prefetch_batches);
}

DataLoader::~DataLoader() { stop(); }

size_t DataLoader::batches_per_epoch() const {
  const size_t ranks = static_cast<size_t>(options_.ranks);
  const size_t n = (dataset_.size() + ranks - 1) / ranks, b = static_cast<size_t>(options_.batch_size);  // this rank's
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<SkippedSample> DataLoader::skipped() const {
  std::lock_guard lock(mutex_);
  return skipped_;
}

void DataLoader::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
  if (producer_.joinable()) producer_.join();
  std::lock_guard lock(mutex_);
  queue_.clear();
  stopping_ = false;
  finished_ = false;
}

void DataLoader::start_epoch(int epoch, size_t first_position) {
  stop();
  epoch_ = epoch;
  order_.resize(dataset_.size());
  std::iota(order_.begin(), order_.end(), size_t{0});
  if (options_.shuffle) {
    Rng rng = sample_rng(options_.seed, epoch, kShuffleStream);
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  }
  KEYNET_CHECK(first_position <= order_.size(), "data loader: epoch ", epoch, " cannot start at position ",
               first_position, " of ", order_.size(), " samples");
  const size_t ranks = static_cast<size_t>(options_.ranks);
  if (ranks > 1) {
    // PyTorch's DistributedSampler split: the order padded to a multiple of the ranks with its own first
    // indices, then every ranks-th index from this rank's on. Global position p is position p / ranks here.
    const size_t samples = order_.size(), padded = (samples + ranks - 1) / ranks * ranks;
    for (size_t i = samples; i < padded; ++i) order_.push_back(order_[i - samples]);
    std::vector<size_t> shard;
    for (size_t i = static_cast<size_t>(options_.rank); i < padded; i += ranks) shard.push_back(order_[i]);
    order_ = std::move(shard);
    KEYNET_CHECK(first_position % ranks == 0, "data loader: epoch ", epoch, " cannot start at position ",
                 first_position, " on ", ranks, " ranks (not a multiple of the ranks: was the global batch changed?)");
  }
  first_position_ = first_position / ranks;
  cursor_ = first_position_;
  epoch_started_ = true;
  if (options_.prefetch_batches > 0) producer_ = std::thread(&DataLoader::producer_loop, this);
}

Sample DataLoader::load_sample(size_t index) const {
  if (!options_.augment) return dataset_.get(index);
  Rng rng = sample_rng(options_.seed, epoch_, index);
  return dataset_.get(index, &rng);
}

std::optional<Batch> DataLoader::build_batch(size_t& cursor) {
  const int h = dataset_.options().height, w = dataset_.options().width, k = dataset_.num_points();
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::vector<Sample> samples;
  std::vector<size_t> indices;
  // Load the missing samples in parallel slots, then keep them in order; a skipped sample is
  // replaced by the next ones in the order, so the result does not depend on the worker count.
  while (samples.size() < batch_size && cursor < order_.size()) {
    const size_t take = std::min(batch_size - samples.size(), order_.size() - cursor);
    std::vector<std::optional<Sample>> slots(take);
    std::vector<std::exception_ptr> errors(take);
    std::vector<std::string> messages(take);
    auto load = [&](size_t j) {
      try {
        slots[j] = load_sample(order_[cursor + j]);
      } catch (const Error& error) {
        errors[j] = std::current_exception();
        messages[j] = error.what();
      } catch (...) {
        errors[j] = std::current_exception();
      }
    };
    if (options_.workers > 1 && take > 1) {
#pragma omp parallel for num_threads(options_.workers) schedule(dynamic)
      for (size_t j = 0; j < take; ++j) load(j);
    } else {
      for (size_t j = 0; j < take; ++j) load(j);
    }
    for (size_t j = 0; j < take; ++j) {
      const size_t index = order_[cursor + j];
      if (slots[j]) {
        samples.push_back(std::move(*slots[j]));
        indices.push_back(index);
        continue;
      }
      if (!options_.skip_bad || messages[j].empty()) std::rethrow_exception(errors[j]);
      std::lock_guard lock(mutex_);
      const bool known = std::any_of(skipped_.begin(), skipped_.end(), [&](const SkippedSample& s) { return s.index == index; });
      if (!known) skipped_.push_back({index, dataset_.record(index).image_path, messages[j]});
    }
    cursor += take;
  }
  if (samples.empty()) return std::nullopt;
  if (options_.drop_last && samples.size() < static_cast<size_t>(options_.batch_size)) return std::nullopt;

  const int64_t b = static_cast<int64_t>(samples.size());
  Batch batch;
  batch.images = Tensor::empty({b, 1, h, w});
  batch.targets = Tensor::empty({b, 2 * static_cast<int64_t>(k)});
  float* images = batch.images.data<float>();
  float* targets = batch.targets.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    write_unit_range(samples[i].image, images + i * h * w);
    normalize_points(samples[i].points, w, h, targets + i * 2 * k);
  }
  batch.indices = std::move(indices);
  batch.samples = std::move(samples);
  batch.end_position = cursor * static_cast<size_t>(options_.ranks);  // global: the same on every rank
  return batch;
}

void DataLoader::producer_loop() {
  size_t cursor = first_position_;
  while (true) {
    Item item;
    try {
      item.batch = build_batch(cursor);
    } catch (...) {
      item.error = std::current_exception();
    }
    const bool last = !item.batch.has_value();
    std::unique_lock lock(mutex_);
    queue_changed_.wait(lock, [&] { return stopping_ || queue_.size() < static_cast<size_t>(options_.prefetch_batches); });
    if (stopping_) return;
    queue_.push_back(std::move(item));
    if (last) finished_ = true;
    lock.unlock();
    queue_changed_.notify_all();
    if (last) return;
  }
}

std::optional<Batch> DataLoader::next() {
  KEYNET_CHECK(epoch_started_, "data loader: call start_epoch() before next()");
  if (options_.prefetch_batches == 0) return build_batch(cursor_);
  std::unique_lock lock(mutex_);
  queue_changed_.wait(lock, [&] { return !queue_.empty() || finished_; });
  if (queue_.empty()) return std::nullopt;  // the end-of-epoch item was already taken
  Item item = std::move(queue_.front());
  if (!item.batch && !item.error) {
    return std::nullopt;  // leave the end marker in place so further calls also end
  }
  queue_.pop_front();
  lock.unlock();
  queue_changed_.notify_all();
  if (item.error) std::rethrow_exception(item.error);
  return std::move(item.batch);
}

}  // namespace keynet::data
