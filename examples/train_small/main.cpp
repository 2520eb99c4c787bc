// Trains a small convolutional net with keynet's public API on synthetic 16x16 images, each holding a
// bright 3x3 square at a random place: the net learns the square's centre (x, y in [-1, 1]). Then it
// saves the net, loads it into a fresh one and checks that both predict the same.
//
//   train_small CHECKPOINT.safetensors
#include <cmath>
#include <cstdio>
#include <vector>

#include <keynet/io/checkpoint.h>
#include <keynet/layers/losses.h>
#include <keynet/layers/nets.h>
#include <keynet/optim/optimizer.h>
#include <keynet/tensor/rng.h>
#include <keynet/tensor/version.h>
#include <keynet/train/step.h>

namespace {

constexpr int kSize = 16, kBatch = 32;

struct Batch {
  keynet::Tensor images, targets;
};

Batch make_batch(keynet::Rng& rng) {
  std::vector<float> pixels(kBatch * kSize * kSize, 0.0f), centres;
  for (int n = 0; n < kBatch; ++n) {
    const int x = 1 + static_cast<int>(rng.below(kSize - 2)), y = 1 + static_cast<int>(rng.below(kSize - 2));
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) pixels[(n * kSize + y + dy) * kSize + x + dx] = 1.0f;
    centres.push_back(2.0f * x / (kSize - 1) - 1.0f);
    centres.push_back(2.0f * y / (kSize - 1) - 1.0f);
  }
  return {keynet::Tensor::from_vector({kBatch, 1, kSize, kSize}, pixels),
          keynet::Tensor::from_vector({kBatch, 2}, centres)};
}

std::unique_ptr<keynet::Sequential> make_net(keynet::Rng& rng) {
  keynet::ConvNetSpec spec;
  spec.stages = {{8, 3}, {16, 3}};  // conv 3x3 + ReLU + 2x2 max pool, twice
  spec.hidden = {32};
  return keynet::make_conv_net(spec, kSize, kSize, 2, rng);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: train_small CHECKPOINT.safetensors\n");
    return 2;
  }
  std::printf("keynet %s (commit %s)\n", keynet::version(), keynet::build_commit());
  keynet::Rng rng(7);
  auto net = make_net(rng);
  keynet::MSELoss loss;
  keynet::Adam adam(*net, {.lr = 3e-3});
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    const Batch batch = make_batch(rng);
    const double value = keynet::train::step(*net, loss, adam, batch.images, batch.targets).loss;
    if (step == 0) first = value;
    last = value;
    if (step % 50 == 0) std::printf("step %3d  loss %.5f\n", step, value);
  }
  std::printf("loss %.5f -> %.5f\n", first, last);
  if (!(last < 0.2 * first)) {
    std::fprintf(stderr, "train_small: the loss did not fall to a fifth of its start\n");
    return 1;
  }

  keynet::save_module(*net, argv[1]);
  keynet::Rng other_seed(99);
  auto loaded = make_net(other_seed);
  keynet::load_module(*loaded, argv[1]);
  const Batch check = make_batch(rng);
  const keynet::Tensor a = net->forward(check.images, keynet::Mode::Eval);
  const keynet::Tensor b = loaded->forward(check.images, keynet::Mode::Eval);
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a.data<float>()[i] != b.data<float>()[i]) {
      std::fprintf(stderr, "train_small: the reloaded net predicts differently at %lld\n", static_cast<long long>(i));
      return 1;
    }
  std::printf("saved %s; the reloaded net predicts the same\n", argv[1]);
  return 0;
}
