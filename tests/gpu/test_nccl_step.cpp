// The data-parallel step on one GPU through NCCL (a one-rank communicator: NCCL refuses two ranks on one
// GPU, so several ranks wait for a machine with several GPUs): a ResNet18 step whose gradients go
// through ncclAllReduce must equal the plain step (a sum over one rank, scaled by 1/1: the same bits),
// and the all-reduce of ResNet18's 11.2 M gradients is timed beside the step (the GPU check's report).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "layers/losses.h"
#include "layers/resnet.h"
#include "optim/optimizer.h"
#include "tensor/cuda_memory.h"
#include "tensor/rng.h"
#include "train/distributed.h"
#include "train/step.h"

namespace keynet {
namespace {

std::vector<float> parameters(Module& model) {
  std::vector<float> all;
  for (auto& [name, p] : named_parameters(model)) {
    const Tensor host = p->value.to(Device::CPU);
    all.insert(all.end(), host.data<float>(), host.data<float>() + host.numel());
  }
  return all;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("a ResNet18 step with NCCL's all-reduce on one rank equals the plain step; the all-reduce is timed") {
  if (!train::built_with_nccl()) {
    FAIL("this CUDA build has no NCCL (CMake found no nccl.h / libnccl: set NCCL_ROOT)");
    return;
  }
  Rng data_rng(5);
  const Tensor images = Tensor::uniform({16, 1, 160, 160}, data_rng, -0.5, 0.5).to(Device::CUDA);
  const Tensor targets = Tensor::uniform({16, 136}, data_rng, -1, 1).to(Device::CUDA);
  auto run = [&](bool through_nccl, int steps, double* allreduce_ms, double* step_ms) {
    Rng rng(1);
    ResNet18 model(1, 136, rng);
    to_device(model, Device::CUDA);
    Adam adam(model);
    MSELoss loss;
    auto communicator = through_nccl ? train::make_single_rank_nccl() : nullptr;
    std::unique_ptr<train::DataParallel> parallel;
    if (communicator) parallel = std::make_unique<train::DataParallel>(*communicator, model);
    for (int s = 0; s < steps; ++s) train::step(model, loss, adam, images, targets, train::ReadLoss::Yes, parallel.get());
    if (parallel && allreduce_ms && step_ms) {
      constexpr int kRepeats = 10;
      cuda_memory::synchronize();
      auto start = std::chrono::steady_clock::now();
      for (int r = 0; r < kRepeats; ++r) parallel->sum_gradients();
      cuda_memory::synchronize();
      *allreduce_ms = milliseconds_since(start) / kRepeats;
      start = std::chrono::steady_clock::now();
      for (int r = 0; r < kRepeats; ++r) train::step(model, loss, adam, images, targets, train::ReadLoss::Yes, parallel.get());
      cuda_memory::synchronize();
      *step_ms = milliseconds_since(start) / kRepeats;
    }
    return parameters(model);
  };
  const std::vector<float> plain = run(false, 3, nullptr, nullptr);
  const std::vector<float> nccl = run(true, 3, nullptr, nullptr);
  REQUIRE(plain.size() == nccl.size());
  CHECK(std::memcmp(plain.data(), nccl.data(), plain.size() * sizeof(float)) == 0);
  double allreduce_ms = 0, step_ms = 0;
  run(true, 1, &allreduce_ms, &step_ms);
  std::printf("NCCL one-rank all-reduce of ResNet18's gradients (11.2 M floats, 25 MB buckets): %.3f ms; "
              "the whole data-parallel step (batch 16, 1x160x160): %.3f ms\n", allreduce_ms, step_ms);
  CHECK(allreduce_ms > 0);
}

}  // namespace keynet
