// Dataset and DataLoader: every sample once per epoch, deterministic order and augmentation for a
// seed (whatever the prefetching or batch size), targets that map back to pixels, bad samples.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "data/dataset.h"
#include "data/ibug.h"
#include "data/imm.h"
#include "data/loader.h"
#include "test_data_support.h"

using namespace keynet::data;
using namespace keynet::data::testing;

namespace {

constexpr int kSamples = 23;

// kSamples small PNGs; image i is flat gray 10*i + 5 with three labelled points.
std::vector<LandmarkRecord> synthetic_records(const TempDir& dir) {
  std::vector<LandmarkRecord> records;
  keynet::Rng rng(99);
  for (int i = 0; i < kSamples; ++i) {
    const std::string path = dir.file("img" + std::to_string(i) + ".png");
    save_png(path, Image(40, 30, 1, 10.0f * i + 5));
    std::vector<Point> points;
    for (int k = 0; k < 3; ++k) points.push_back({rng.uniform(5, 35), rng.uniform(5, 25)});
    records.push_back({path, points, box_around_points(points, 0.3), "synthetic " + std::to_string(i)});
  }
  return records;
}

SampleOptions small_options() {
  SampleOptions o;
  o.framing = Framing::WholeImage;
  o.width = 20, o.height = 16;
  o.mirror_permutation = {2, 1, 0};
  return o;
}

struct Epoch {
  std::vector<size_t> indices;
  std::vector<size_t> batch_sizes;
  std::vector<std::vector<float>> images, targets;  // per batch
};

Epoch run_epoch(DataLoader& loader, int epoch) {
  Epoch e;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) {
    e.indices.insert(e.indices.end(), batch->indices.begin(), batch->indices.end());
    e.batch_sizes.push_back(batch->size());
    e.images.push_back(batch->images.to_float_vector());
    e.targets.push_back(batch->targets.to_float_vector());
  }
  return e;
}

// Row of each dataset index -> its target vector, across the batches of an epoch.
std::map<size_t, std::vector<float>> targets_by_index(const Epoch& e, int k2) {
  std::map<size_t, std::vector<float>> out;
  size_t row = 0;
  for (size_t b = 0; b < e.targets.size(); ++b)
    for (size_t i = 0; i < e.batch_sizes[b]; ++i, ++row)
      out[e.indices[row]] = std::vector<float>(e.targets[b].begin() + i * k2, e.targets[b].begin() + (i + 1) * k2);
  return out;
}

}  // namespace

TEST_CASE("loader: every sample exactly once per epoch; batch shapes") {
  TempDir dir("loader_once");
  const KeypointDataset dataset(synthetic_records(dir), small_options());
  for (int prefetch : {0, 2}) {
    CAPTURE(prefetch);
    DataLoader loader(dataset, {.batch_size = 5, .seed = 1, .prefetch_batches = prefetch});
    CHECK(loader.batches_per_epoch() == 5);
    const Epoch e = run_epoch(loader, 0);
    CHECK(e.batch_sizes == std::vector<size_t>{5, 5, 5, 5, 3});
    std::vector<size_t> sorted = e.indices;
    std::sort(sorted.begin(), sorted.end());
    std::vector<size_t> all(kSamples);
    std::iota(all.begin(), all.end(), size_t{0});
    CHECK(sorted == all);
    CHECK(e.indices != all);  // shuffled
    CHECK(e.indices == loader.order());

    loader.start_epoch(0);
    const auto batch = loader.next();
    REQUIRE(batch.has_value());
    CHECK(batch->images.shape() == keynet::Shape{5, 1, 16, 20});
    CHECK(batch->targets.shape() == keynet::Shape{5, 6});
    // Row i holds image batch->indices[i] (flat gray 10*i + 5).
    for (size_t i = 0; i < batch->size(); ++i)
      CHECK(batch->images.at({int64_t(i), 0, 7, 9}) == doctest::Approx((10.0 * batch->indices[i] + 5) / 255 - 0.5));

    DataLoader dropping(dataset, {.batch_size = 5, .seed = 1, .drop_last = true, .prefetch_batches = prefetch});
    CHECK(dropping.batches_per_epoch() == 4);
    const Epoch d = run_epoch(dropping, 0);
    CHECK(d.batch_sizes == std::vector<size_t>{5, 5, 5, 5});
    CHECK(std::set<size_t>(d.indices.begin(), d.indices.end()).size() == 20);
    CHECK(!dropping.next().has_value());  // stays ended
  }
  DataLoader ordered(dataset, {.batch_size = 8, .shuffle = false, .prefetch_batches = 1});
  std::vector<size_t> all(kSamples);
  std::iota(all.begin(), all.end(), size_t{0});
  CHECK(run_epoch(ordered, 3).indices == all);
}

TEST_CASE("loader: the order and the augmentation depend only on seed, epoch and index") {
  TempDir dir("loader_seed");
  const KeypointDataset dataset(synthetic_records(dir), small_options());
  DataLoader a(dataset, {.batch_size = 4, .seed = 7, .augment = true, .prefetch_batches = 3});
  DataLoader b(dataset, {.batch_size = 4, .seed = 7, .augment = true, .prefetch_batches = 0});
  DataLoader c(dataset, {.batch_size = 6, .seed = 7, .augment = true, .prefetch_batches = 1, .workers = 3});
  DataLoader other(dataset, {.batch_size = 4, .seed = 8, .augment = true, .prefetch_batches = 3});
  const Epoch ea = run_epoch(a, 0), eb = run_epoch(b, 0), ec = run_epoch(c, 0), eo = run_epoch(other, 0);
  CHECK(ea.indices == eb.indices);
  CHECK(ea.images == eb.images);  // bitwise, with or without the prefetch thread
  DataLoader d(dataset, {.batch_size = 4, .seed = 7, .augment = true, .prefetch_batches = 2, .workers = 4});
  const Epoch ed = run_epoch(d, 0);
  CHECK(ed.images == ea.images);  // ... and with several workers
  CHECK(ed.targets == ea.targets);
  CHECK(ea.targets == eb.targets);
  CHECK(ea.indices == ec.indices);  // the batch size does not change the order...
  CHECK(targets_by_index(ea, 6) == targets_by_index(ec, 6));  // ... nor any sample's augmentation
  CHECK(ea.indices != eo.indices);  // another seed, another order
  const Epoch next_epoch = run_epoch(a, 1);
  CHECK(next_epoch.indices != ea.indices);
  CHECK(run_epoch(a, 0).targets == ea.targets);  // epoch 0 again: the same batches
  // Augmentation really changes the targets (against the plain samples).
  DataLoader plain(dataset, {.batch_size = 4, .seed = 7, .augment = false});
  CHECK(run_epoch(plain, 0).targets != ea.targets);
}

TEST_CASE("loader: an epoch started at a batch's end_position gives the rest of that epoch, bitwise") {
  TempDir dir("loader_position");
  const KeypointDataset dataset(synthetic_records(dir), small_options());
  for (int prefetch : {0, 2}) {
    CAPTURE(prefetch);
    DataLoader loader(dataset, {.batch_size = 5, .seed = 3, .augment = true, .prefetch_batches = prefetch});
    const Epoch whole = run_epoch(loader, 4);
    loader.start_epoch(4);
    loader.next();
    const auto second = loader.next();  // resume after two batches
    REQUIRE(second.has_value());
    CHECK(second->end_position == 10);
    loader.start_epoch(4, second->end_position);
    std::vector<std::vector<float>> rest;
    std::vector<size_t> indices;
    while (auto batch = loader.next()) {
      rest.push_back(batch->images.to_float_vector());
      indices.insert(indices.end(), batch->indices.begin(), batch->indices.end());
    }
    CHECK(rest == std::vector<std::vector<float>>(whole.images.begin() + 2, whole.images.end()));
    CHECK(indices == std::vector<size_t>(whole.indices.begin() + 10, whole.indices.end()));
  }
  DataLoader loader(dataset, {.batch_size = 5});
  CHECK(contains(error_of([&] { loader.start_epoch(0, kSamples + 1); }), "cannot start at position 24 of 23"));
}

TEST_CASE("loader: the shuffle is uniform: every position equally likely, elements left in place as often as chance") {
  // Coverage and determinism hold for a broken Fisher-Yates too (e.g. Sattolo's off-by-one, which never
  // leaves an element in place); these counts do not.
  TempDir dir("loader_uniform");
  const KeypointDataset dataset(synthetic_records(dir), small_options());
  DataLoader loader(dataset, {.batch_size = 4, .seed = 11, .prefetch_batches = 0});
  constexpr int kEpochs = 2000;
  std::vector<int> position_of_first(kSamples, 0);
  int fixed_points = 0;
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    loader.start_epoch(epoch);
    const std::vector<size_t>& order = loader.order();
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i] == 0) ++position_of_first[i];
      if (order[i] == i) ++fixed_points;
    }
  }
  // A uniform permutation has one fixed point per epoch on average (variance 1): 2000 +- 45.
  CHECK(fixed_points > 1800);
  CHECK(fixed_points < 2200);
  // Sample 0's position: chi-square with 22 degrees of freedom, below its 0.1% tail (48.3).
  const double expected = static_cast<double>(kEpochs) / kSamples;
  double chi_square = 0;
  for (int count : position_of_first) chi_square += (count - expected) * (count - expected) / expected;
  MESSAGE("fixed points ", fixed_points, " in ", kEpochs, " epochs; chi-square of sample 0's position ", chi_square);
  CHECK(chi_square < 48.3);
}

TEST_CASE("dataset: cached images give bitwise the same batches; failures are listed") {
  TempDir dir("loader_cache");
  std::vector<LandmarkRecord> records = synthetic_records(dir);
  records[2].image_path = fixture("imm/19-1m.jpg");  // a real JPEG among the flat PNGs
  records[5].image_path = dir.file("missing.png");
  const KeypointDataset plain(records, small_options());
  KeypointDataset cached(records, small_options());
  const std::vector<SkippedItem> failed = cached.cache_images(2);
  REQUIRE(failed.size() == 1);
  CHECK(contains(failed[0].what, "missing.png"));
  CHECK(cached.cached_bytes() == (kSamples - 2) * 40 * 30 + 160 * 120);
  DataLoader a(plain, {.batch_size = 4, .seed = 3, .augment = true, .skip_bad = true});
  DataLoader b(cached, {.batch_size = 4, .seed = 3, .augment = true, .skip_bad = true});
  const Epoch ea = run_epoch(a, 0), eb = run_epoch(b, 0);
  CHECK(ea.indices.size() == kSamples - 1);
  CHECK(ea.indices == eb.indices);
  CHECK(ea.images == eb.images);
  CHECK(ea.targets == eb.targets);
  CHECK(b.skipped().size() == 1);  // the uncached bad image still fails in get()
}

TEST_CASE("loader: targets are normalised and map back to the original pixels") {
  TempDir dir("loader_targets");
  const std::vector<LandmarkRecord> records = synthetic_records(dir);
  const KeypointDataset dataset(records, small_options());
  DataLoader loader(dataset, {.batch_size = 6, .seed = 3, .augment = true});
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    const std::vector<float> t = batch->targets.to_float_vector();
    for (size_t i = 0; i < batch->size(); ++i) {
      const Sample& s = batch->samples[i];
      const std::vector<Point> pixels = denormalize_points(&t[i * 6], 3, 20, 16);
      for (int k = 0; k < 3; ++k) {
        CHECK(pixels[k].x == doctest::Approx(s.points[k].x).epsilon(1e-5));
        CHECK(pixels[k].y == doctest::Approx(s.points[k].y).epsilon(1e-5));
      }
      const std::vector<Point> original = batch->prediction_to_original(i, &t[i * 6]);
      const LandmarkRecord& r = records[batch->indices[i]];
      for (int k = 0; k < 3; ++k) {
        CHECK(std::abs(original[k].x - r.points[k].x) < 1e-4);
        CHECK(std::abs(original[k].y - r.points[k].y) < 1e-4);
      }
    }
  }
  // The outer pixel edges are -1 and +1, the centre 0.
  float edges[4];
  normalize_points({{-0.5, -0.5}, {19.5, 7.5}}, 20, 16, edges);
  CHECK(edges[0] == doctest::Approx(-1));
  CHECK(edges[1] == doctest::Approx(-1));
  CHECK(edges[2] == doctest::Approx(1));
  CHECK(edges[3] == doctest::Approx(0));
}

TEST_CASE("loader: bad samples fail with the file name, or are skipped and reported") {
  TempDir dir("loader_bad");
  std::vector<LandmarkRecord> records = synthetic_records(dir);
  records[4].image_path = dir.file("missing.png");
  const std::string jpeg = read_text(fixture("imm/01-1m.jpg"));
  records[9].image_path = dir.write("truncated.jpg", jpeg.substr(0, jpeg.size() / 3));
  const KeypointDataset dataset(records, small_options());
  for (int prefetch : {0, 2}) {
    CAPTURE(prefetch);
    DataLoader strict(dataset, {.batch_size = 5, .shuffle = false, .prefetch_batches = prefetch});
    strict.start_epoch(0);
    CHECK(contains(error_of([&] { while (strict.next()) {} }), "missing.png"));

    DataLoader lenient(dataset, {.batch_size = 5, .seed = 2, .prefetch_batches = prefetch, .skip_bad = true,
                                 .workers = prefetch + 1});
    const Epoch e = run_epoch(lenient, 0);
    CHECK(e.indices.size() == kSamples - 2);
    CHECK(std::set<size_t>(e.indices.begin(), e.indices.end()).size() == kSamples - 2);
    CHECK(std::count(e.indices.begin(), e.indices.end(), 4) == 0);
    run_epoch(lenient, 1);
    const std::vector<SkippedSample> skipped = lenient.skipped();
    REQUIRE(skipped.size() == 2);  // reported once, however many epochs
    std::set<size_t> skipped_indices;
    for (const SkippedSample& s : skipped) skipped_indices.insert(s.index);
    CHECK(skipped_indices == std::set<size_t>{4, 9});
    for (const SkippedSample& s : skipped)
      CHECK(contains(s.reason, s.index == 4 ? "missing.png" : "truncated.jpg' is truncated"));
  }
}

TEST_CASE("loader: restarting or destroying mid-epoch neither hangs nor leaks batches") {
  TempDir dir("loader_restart");
  const KeypointDataset dataset(synthetic_records(dir), small_options());
  {
    DataLoader loader(dataset, {.batch_size = 2, .seed = 5, .prefetch_batches = 2});
    loader.start_epoch(0);
    const auto first = loader.next();
    REQUIRE(first.has_value());
    loader.start_epoch(0);  // restart before the producer finished
    const auto again = loader.next();
    REQUIRE(again.has_value());
    CHECK(again->indices == first->indices);
    loader.next();
  }  // destroyed with batches queued
  DataLoader unstarted(dataset, {});
  CHECK(contains(error_of([&] { unstarted.next(); }), "start_epoch"));
  CHECK(contains(error_of([&] { DataLoader(dataset, {.batch_size = 0}); }), "batch size must be positive"));
}

TEST_CASE("dataset: real IMM and iBUG fixtures through the pipeline") {
  const std::vector<int> imm_perm = imm_mirror_permutation();
  std::vector<LandmarkRecord> imm;
  for (const ImmShape& s : read_imm_dir(fixture("imm"))) {
    ImmShape small = read_imm_asf(s.asf_path, 160, 120);
    imm.push_back(to_record(small));
  }
  SampleOptions imm_options = small_options();
  imm_options.width = 80, imm_options.height = 60, imm_options.mirror_permutation = imm_perm;
  const KeypointDataset imm_set(imm, imm_options);
  CHECK(imm_set.num_points() == 58);
  DataLoader imm_loader(imm_set, {.batch_size = 2, .seed = 1, .augment = true});
  const Epoch e = run_epoch(imm_loader, 0);
  CHECK(e.batch_sizes == std::vector<size_t>{2, 1});

  SampleOptions ibug_options;
  ibug_options.mirror_permutation = read_mirror_permutation(fixture("ibug/mirror_permutation_68.txt"), kIbugPoints);
  const KeypointDataset ibug_set(read_dlib_xml(fixture("ibug/labels_fixture.xml"), kIbugPoints), ibug_options);
  DataLoader ibug_loader(ibug_set, {.batch_size = 2, .seed = 1, .augment = true});
  ibug_loader.start_epoch(0);
  const auto batch = ibug_loader.next();
  REQUIRE(batch.has_value());
  CHECK(batch->images.shape() == keynet::Shape{2, 1, 224, 224});
  CHECK(batch->targets.shape() == keynet::Shape{2, 136});
  const std::vector<float> t = batch->targets.to_float_vector();
  // The face fills the crop: all targets well inside [-1, 1].
  for (float v : t) CHECK(std::abs(v) < 0.95f);

  std::vector<LandmarkRecord> mixed = imm;
  mixed.push_back(read_dlib_xml(fixture("ibug/labels_fixture.xml"), kIbugPoints)[0]);
  CHECK(contains(error_of([&] { KeypointDataset(mixed, imm_options); }), "68 points, but the dataset's first record"));
}

TEST_CASE("dataset: a reduced cache keeps the geometry exact and the pixels close") {
  TempDir dir("loader_reduced");
  // A smooth 160x120 gradient, so that where the averaging happens changes pixels only slightly.
  Image photo(160, 120, 1);
  for (int y = 0; y < 120; ++y)
    for (int x = 0; x < 160; ++x) photo.at(x, y) = 40.0f + x + 0.5f * y;
  save_png(dir.file("photo.png"), photo);
  const std::vector<LandmarkRecord> records = {{dir.file("photo.png"), {{30.5, 40}, {120, 77.25}}, {}, "photo"}};
  SampleOptions options;
  options.framing = Framing::WholeImage;
  options.width = 20, options.height = 15;
  const KeypointDataset plain(records, options);
  KeypointDataset reduced(records, options);
  REQUIRE(reduced.cache_images(1, 4).empty());
  CHECK(reduced.cached_bytes() == 40 * 30);
  for (uint64_t seed : {0, 1, 2}) {
    keynet::Rng rng_a(seed), rng_b(seed);
    const Sample a = plain.get(0, &rng_a), b = reduced.get(0, &rng_b);
    REQUIRE(a.points.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      CHECK(b.points[i].x == doctest::Approx(a.points[i].x).epsilon(1e-12));
      CHECK(b.points[i].y == doctest::Approx(a.points[i].y).epsilon(1e-12));
      const Point back = b.to_original(b.points)[i];
      CHECK(back.x == doctest::Approx(records[0].points[i].x).epsilon(1e-9));
      CHECK(back.y == doctest::Approx(records[0].points[i].y).epsilon(1e-9));
    }
    double largest = 0;
    for (size_t p = 0; p < a.image.pixels.size(); ++p)
      largest = std::max(largest, double(std::abs(a.image.pixels[p] - b.image.pixels[p])));
    MESSAGE("seed ", seed, ": largest pixel difference, reduced cache against none: ", largest);
    CHECK(largest < 3.0);
  }
  SampleOptions boxed = options;
  boxed.framing = Framing::FaceBox;
  KeypointDataset cropped(records, boxed);
  CHECK(contains(error_of([&] { cropped.cache_images(1, 4); }), "need whole-image framing"));
}
