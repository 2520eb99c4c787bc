// Part 3's pieces in process: the 300-W NME on 68 points against a hand-computed value, and a few
// epochs of ResNet18 on the iBUG fixture crops that lower the training loss (the recipe's L1 loss,
// FaceBox framing and mirrored augmentation).
#include <doctest/doctest.h>

#include "data/ibug.h"
#include "data/loader.h"
#include "layers/resnet.h"
#include "test_data_support.h"
#include "train/evaluate.h"
#include "train/metrics.h"
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
