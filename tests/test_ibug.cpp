// Part 3's pieces in process: the 300-W NME on 68 points against a hand-computed value, a few
// epochs of ResNet18 on the iBUG fixture crops that lower the training loss (the recipe's L1 loss,
// FaceBox framing and mirrored augmentation), and the face finder's batching (the shipped model).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "data/ibug.h"
#include "data/loader.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "layers/resnet.h"
#include "test_data_support.h"
#include "train/evaluate.h"
#include "train/face_finder.h"
#include "train/metrics.h"
#include "train/model_file.h"
#include "train/trainer.h"

using namespace keynet;
using keynet::data::testing::fixture;
using keynet::data::testing::TempDir;

TEST_CASE("NME of 68 points is the mean error over the outer eye corners' distance") {
  train::Points truth(data::kIbugPoints), predicted(data::kIbugPoints);
  for (int i = 0; i < data::kIbugPoints; ++i) truth[i] = {static_cast<double>(i), 2.0 * i};
  truth[36] = {100, 50};
  truth[45] = {140, 80};  // 50 px apart
  for (int i = 0; i < data::kIbugPoints; ++i)
    predicted[i] = i % 2 == 0 ? data::Point{truth[i].x + 3, truth[i].y + 4} : truth[i];  // half the points 5 px off
  CHECK(train::face_nme_percent(predicted, truth) == doctest::Approx(100 * 2.5 / 50).epsilon(1e-12));
}

TEST_CASE("a few epochs of ResNet18 on the iBUG fixture crops lower the loss") {
  data::SampleOptions options;
  options.width = options.height = 64;
  options.framing = data::Framing::FaceBox;
  options.crop_enlarge = 1.25;
  options.mirror_permutation = data::ibug_mirror_permutation();
  data::KeypointDataset faces(data::read_dlib_xml(fixture("ibug/labels_fixture.xml"), data::kIbugPoints), options);
  faces.cache_images(1);

  Rng init(3);
  ResNet18 model(1, 2 * data::kIbugPoints, init);
  auto loss = train::make_loss("l1");
  Adam adam(model);
  train::place(model, *loss, adam, Device::CPU, Impl::Fast);
  data::DataLoader loader(faces, {.batch_size = 2, .seed = 1, .augment = true, .prefetch_batches = 0});
  TempDir dir("ibug_steps");
  train::RunFolder run(dir.file("run"));
  train::ModelCard card;
  card.app = "test_ibug";
  card.architecture = "resnet18";
  card.input_width = card.input_height = 64;
  card.num_points = data::kIbugPoints;
  card.framing = "face box";
  train::Trainer trainer(model, *loss, adam, run, card, {.epochs = 8, .lr = 1e-3});
  auto validate = [&] {
    const train::Predictions p = train::predict_dataset(model, *loss, faces, 2, Device::CPU);
    return train::Validation{p.loss, 0};
  };
  const std::vector<train::EpochRecord> log = trainer.fit(loader, validate);
  REQUIRE(log.size() == 8);
  MESSAGE("training loss ", log.front().train_loss, " -> ", log.back().train_loss, ", on the unaugmented crops ",
          log.front().val_loss, " -> ", log.back().val_loss);
  CHECK(log.back().train_loss < log.front().train_loss);
  CHECK(log.back().val_loss < 0.8 * log.front().val_loss);
}

TEST_CASE("the face finder's batches change nothing: every crop alone gives the same face, box and points") {
  // The shipped model on a validation face (its photo held out of training by split seed 0).
  const std::string path = std::string(KEYNET_SOURCE_DIR) + "/models/ibug_landmarks.safetensors";
  const SafetensorsFile file = read_safetensors(path);
  const train::ModelCard card = train::ModelCard::from_metadata(file.metadata, path);
  Rng unused(0);
  ResNet18 model(card.input_channels, 2 * card.num_points, unused, resnet18_head(card.architecture, path));
  load_module(model, file, path);
  train::FaceFinderOptions options;
  options.framing.framing = data::Framing::FaceBox;
  options.framing.width = card.input_width;
  options.framing.height = card.input_height;
  options.framing.crop_enlarge = train::framing_enlarge(card, path);
  options.num_points = card.num_points;
  options.mirror_permutation = data::ibug_mirror_permutation();
  const data::Image image = data::load_image(fixture("ibug/validation/2113106881_1.jpg"));
  const train::Points truth = data::read_pts(fixture("ibug/validation/2113106881_1.pts"), data::kIbugPoints);

  // Every scale searched (no early acceptance), so that the candidates' ranking and merging see many
  // crops per batch; then the same with every crop in a forward of its own, and with odd-sized batches.
  options.accept_inconsistency_percent = 0;
  const train::FoundFace batched = train::find_face(model, image, options, Device::CPU);
  REQUIRE(batched.found);
  CHECK(train::face_nme_percent(batched.points, truth) < 8.0);
  for (const int cap : {1, 5}) {
    INFO("max_batch " << cap);
    train::FaceFinderOptions capped = options;
    capped.max_batch = cap;
    const train::FoundFace alone = train::find_face(model, image, capped, Device::CPU);
    CHECK(alone.found);
    CHECK(alone.candidates == batched.candidates);
    CHECK(alone.inconsistency_percent == doctest::Approx(batched.inconsistency_percent).epsilon(1e-5));
    CHECK(alone.box.left == doctest::Approx(batched.box.left).epsilon(1e-6));
    CHECK(alone.box.top == doctest::Approx(batched.box.top).epsilon(1e-6));
    CHECK(alone.box.width == doctest::Approx(batched.box.width).epsilon(1e-6));
    REQUIRE(alone.points.size() == batched.points.size());
    double worst = 0;
    for (size_t i = 0; i < alone.points.size(); ++i)
      worst = std::max({worst, std::abs(alone.points[i].x - batched.points[i].x),
                        std::abs(alone.points[i].y - batched.points[i].y)});
    CHECK(worst < 1e-4);
  }

  // With the early acceptance (the default: smaller scales are not searched once a face is this
  // consistent) the search stops at the largest scale here, on the same face.
  train::FaceFinderOptions early = options;
  early.accept_inconsistency_percent = train::FaceFinderOptions().accept_inconsistency_percent;
  const train::FoundFace accepted = train::find_face(model, image, early, Device::CPU);
  CHECK(accepted.found);
  CHECK(accepted.candidates < batched.candidates);
  double mean = 0;
  for (size_t i = 0; i < accepted.points.size(); ++i)
    mean += std::hypot(accepted.points[i].x - batched.points[i].x, accepted.points[i].y - batched.points[i].y);
  mean /= static_cast<double>(accepted.points.size());
  MESSAGE("NME every scale ", train::face_nme_percent(batched.points, truth), "%, accepted early ",
          train::face_nme_percent(accepted.points, truth), "%; the points ", mean, " px apart on average");
  CHECK(mean < 1.0);
}
