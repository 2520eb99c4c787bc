#include "data/dataset.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace keynet::data {

std::vector<Point> Sample::to_original(const std::vector<Point>& sample_points) const {
  std::vector<Point> relabelled = sample_points;
  if (!label_permutation.empty()) {
    KEYNET_CHECK(label_permutation.size() == sample_points.size(), "to_original: ", sample_points.size(),
                 " points for a sample with ", label_permutation.size());
    for (size_t i = 0; i < sample_points.size(); ++i) relabelled[label_permutation[i]] = sample_points[i];
  }
  return transform.inverse().apply(relabelled);
}

Sample make_sample(const LandmarkRecord& record, const SampleOptions& options, Rng* augment_rng) {
  return make_sample(record, load_gray(record.image_path), options, augment_rng);
}

Sample make_sample(const LandmarkRecord& record, const Image& image, const SampleOptions& options, Rng* augment_rng) {
  const Image gray = to_gray(image);
  AugmentDraw draw;
  if (augment_rng) draw = draw_augmentation(options.augment, *augment_rng, !options.mirror_permutation.empty());

  Affine framing;
  if (options.framing == Framing::WholeImage) {
    framing = Affine::resize(gray.width, gray.height, options.width, options.height);
  } else {
    KEYNET_CHECK(record.box.has_value(), record.label_source, ": face-box framing needs a box for ", record.image_path);
    const FaceBox box = augment_rng ? jitter_box(*record.box, draw) : *record.box;
    framing = face_crop_transform(box, options.width, options.height, options.crop_enlarge);
  }

  Sample sample;
  sample.source = record.image_path;
  sample.transform = augment_rng ? augmentation_transform(draw, options.width, options.height) * framing : framing;
  sample.image = warp_affine(gray, sample.transform, options.width, options.height, options.border);
  sample.points = sample.transform.apply(record.points);
  if (draw.mirror) {
    sample.points = permute_points(sample.points, options.mirror_permutation);
    sample.label_permutation = options.mirror_permutation;
  }
  if (augment_rng && (draw.brightness != 0 || draw.contrast != 1))
    adjust_brightness_contrast(sample.image, static_cast<float>(draw.brightness), static_cast<float>(draw.contrast));
  return sample;
}

void normalize_points(const std::vector<Point>& points, int width, int height, float* out) {
  for (size_t i = 0; i < points.size(); ++i) {
    out[2 * i] = static_cast<float>((2.0 * points[i].x + 1.0) / width - 1.0);
    out[2 * i + 1] = static_cast<float>((2.0 * points[i].y + 1.0) / height - 1.0);
  }
}

std::vector<Point> denormalize_points(const float* targets, int num_points, int width, int height) {
  std::vector<Point> points(num_points);
  for (int i = 0; i < num_points; ++i)
    points[i] = {((targets[2 * i] + 1.0) * width - 1.0) / 2.0, ((targets[2 * i + 1] + 1.0) * height - 1.0) / 2.0};
  return points;
}

KeypointDataset::KeypointDataset(std::vector<LandmarkRecord> records, SampleOptions options)
    : records_(std::move(records)), options_(std::move(options)) {
  KEYNET_CHECK(!records_.empty(), "dataset: no faces to read (the labels gave none)");
  KEYNET_CHECK(options_.width > 0 && options_.height > 0, "dataset: sample size must be positive, got ",
               options_.width, "x", options_.height);
  num_points_ = static_cast<int>(records_[0].points.size());
  for (const LandmarkRecord& r : records_)
    KEYNET_CHECK(static_cast<int>(r.points.size()) == num_points_, r.label_source, ": ", r.points.size(),
                 " points, but the dataset's first record (", records_[0].label_source, ") has ", num_points_);
  KEYNET_CHECK(options_.mirror_permutation.empty() || static_cast<int>(options_.mirror_permutation.size()) == num_points_,
               "dataset: mirror permutation has ", options_.mirror_permutation.size(), " entries for ", num_points_,
               " points");
}

const LandmarkRecord& KeypointDataset::record(size_t index) const {
  KEYNET_CHECK(index < records_.size(), "dataset: index ", index, " out of range (size ", records_.size(), ")");
  return records_[index];
}

Sample KeypointDataset::get(size_t index, Rng* augment_rng) const {
  const LandmarkRecord& r = record(index);
  if (cache_.empty() || cache_[index].pixels.empty()) return make_sample(r, options_, augment_rng);
  const CachedImage& cached = cache_[index];
  Image gray(cached.width, cached.height, 1);
  std::copy(cached.pixels.begin(), cached.pixels.end(), gray.pixels.begin());
  if (cache_reduce_ == 1) return make_sample(r, gray, options_, augment_rng);
  // The cached image's pixel centres, as box_downsample places them: x' = (x + 0.5) / reduce - 0.5.
  const double s = 1.0 / cache_reduce_;
  const Affine to_cached{s, 0, 0.5 * s - 0.5, 0, s, 0.5 * s - 0.5};
  LandmarkRecord reduced = r;
  reduced.points = to_cached.apply(r.points);
  Sample sample = make_sample(reduced, gray, options_, augment_rng);
  sample.transform = sample.transform * to_cached;
  return sample;
}

std::vector<SkippedItem> KeypointDataset::cache_images(int threads, int reduce) {
  KEYNET_CHECK(threads >= 1, "cache_images: threads must be >= 1, got ", threads);
  KEYNET_CHECK(reduce >= 1, "cache_images: reduce must be >= 1, got ", reduce);
  KEYNET_CHECK(reduce == 1 || options_.framing == Framing::WholeImage,
               "cache_images: reduced images need whole-image framing");
  cache_reduce_ = reduce;
  cache_.assign(records_.size(), CachedImage{});
  std::vector<std::string> errors(records_.size());
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (size_t i = 0; i < records_.size(); ++i) {
    try {
      const Image gray = reduce == 1 ? load_gray(records_[i].image_path)
                                     : box_downsample(load_gray(records_[i].image_path), reduce);
      CachedImage& cached = cache_[i];
      cached.width = gray.width, cached.height = gray.height;
      cached.pixels.resize(gray.pixels.size());
      // Decoder values are integers already; averages are rounded to the nearest level.
      std::transform(gray.pixels.begin(), gray.pixels.end(), cached.pixels.begin(),
                     [](float v) { return static_cast<unsigned char>(std::lround(v)); });
    } catch (const std::exception& error) {
      errors[i] = error.what();
    }
  }
  std::vector<SkippedItem> failed;
  for (size_t i = 0; i < records_.size(); ++i)
    if (!errors[i].empty()) failed.push_back({records_[i].image_path, errors[i]});
  return failed;
}

size_t KeypointDataset::cached_bytes() const {
  size_t bytes = 0;
  for (const CachedImage& c : cache_) bytes += c.pixels.size();
  return bytes;
}

}  // namespace keynet::data
