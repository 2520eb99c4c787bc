// A whole ResNet18 training step (forward, MSE, backward, Adam) on the GPU against the same step on
// the CPU in double (the reference kernels), for every CUDA implementation; and two identical GPU runs
// giving bitwise-equal losses and weights. Input 4x1x64x64 (the CPU oracle stays quick), 136 outputs.
//
// Tolerances, each relative to the largest magnitude in the compared tensor: output and loss 1e-4,
// parameter gradients 5e-4 (float32 through 20 layers; float32 on the CPU stays near 1.5e-5); cuDNN,
// free to choose Winograd or FFT convolutions, gets 1e-3 and 2e-3. After
// Adam's first step every update is about +-lr whatever the gradient's size, so a gradient within
// float32 noise of zero may flip its update's sign: parameters are compared as updates in units of lr,
// and at most 0.1% of them may differ by more than lr/10.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "layers/losses.h"
#include "layers/resnet.h"
#include "optim/optimizer.h"
#include "tensor/rng.h"
#include "tests/gpu/parity.h"

namespace keynet {
namespace {

constexpr int kBatch = 4, kSide = 64, kOutputs = 136;
constexpr double kLr = 1e-3;

struct StepRecord {
  std::vector<double> losses;
  Tensor output;                             // of the last step's forward
  std::map<std::string, Tensor> grads;       // after the last backward, before the optimizer step
  std::map<std::string, Tensor> before;      // parameters before the last optimizer step
  std::map<std::string, Tensor> after;       // parameters after it
  std::map<std::string, Tensor> buffers;     // BatchNorm running statistics at the end
};

// `steps` training steps of a freshly initialised ResNet18 (seeded: every call builds the same one).
StepRecord train(Device device, DType dtype, Impl impl, int steps) {
  Rng init(1234);
  ResNet18 model(1, kOutputs, init);
  if (dtype == DType::F64) to_dtype(model, DType::F64);
  to_device(model, device);
  model.set_impl(impl);
  Rng data(99);
  const Tensor x = Tensor::uniform({kBatch, 1, kSide, kSide}, data, 0, 1).to(dtype).to(device);
  const Tensor target = Tensor::uniform({kBatch, kOutputs}, data, -1, 1).to(dtype).to(device);
  MSELoss loss;
  loss.set_impl(impl);
  Adam adam(model, AdamOptions{.lr = kLr});
  adam.set_impl(impl);
  StepRecord record;
  for (int step = 0; step < steps; ++step) {
    adam.zero_grad();
    const Tensor out = model.forward(x, Mode::Train);
    record.losses.push_back(loss_value(loss.forward(out, target)));
    model.backward(loss.backward());
    if (step + 1 == steps) {
      record.output = out.to(Device::CPU);
      for (auto& [name, p] : named_parameters(model)) {
        record.grads[name] = p->grad.to(Device::CPU).clone();
        record.before[name] = p->value.to(Device::CPU).clone();
      }
    }
    adam.step();
  }
  for (auto& [name, p] : named_parameters(model)) record.after[name] = p->value.to(Device::CPU).clone();
  for (auto& [name, t] : named_buffers(model)) record.buffers[name] = t->to(Device::CPU).clone();
  return record;
}

// Parameter updates of one Adam step, GPU against CPU, in units of lr.
void compare_updates(const std::string& name, Impl impl, const StepRecord& gpu, const StepRecord& cpu,
                     long& total, long& off, double& worst) {
  const std::vector<double> gb = gpu.before.at(name).to_double_vector(), ga = gpu.after.at(name).to_double_vector();
  const std::vector<double> cb = cpu.before.at(name).to_double_vector(), ca = cpu.after.at(name).to_double_vector();
  for (std::size_t i = 0; i < ga.size(); ++i) {
    const double diff = std::abs((ga[i] - gb[i]) - (ca[i] - cb[i])) / kLr;
    if (!std::isfinite(diff)) {
      off += ga.size();  // poisons the fraction: NaN must fail
      continue;
    }
    worst = std::max(worst, diff);
    off += diff > 0.1;
  }
  total += ga.size();
  (void)impl;
}

TEST_CASE("ResNet18 training step: GPU matches the CPU reference in double") {
  const StepRecord cpu = train(Device::CPU, DType::F64, Impl::Ref, 1);
  std::printf("CPU double: loss %.10g\n", cpu.losses[0]);
  for (Impl impl : gpu_test::cuda_impls())
    gpu_test::guarded("resnet18 step", impl, "ResNet18 4x1x64x64", [&] {
      const StepRecord gpu = train(Device::CUDA, DType::F32, impl, 1);
      std::printf("GPU impl=%s: loss %.10g (CPU double %.10g)\n", to_string(impl), gpu.losses[0], cpu.losses[0]);
      const std::string shape = "ResNet18 4x1x64x64";
      const bool vendor = impl == Impl::Vendor;
      gpu_test::compare("resnet18.output", impl, shape, gpu.output, cpu.output, vendor ? 1e-3 : 1e-4);
      gpu_test::compare("resnet18.loss", impl, shape, Tensor::from_vector({1}, std::vector<double>{gpu.losses[0]}),
                        Tensor::from_vector({1}, std::vector<double>{cpu.losses[0]}), vendor ? 1e-3 : 1e-4);
      for (const auto& [name, grad] : cpu.grads)
        gpu_test::compare("resnet18.grad", impl, name, gpu.grads.at(name), grad, vendor ? 2e-3 : 5e-4);
      for (const auto& [name, value] : cpu.buffers)
        gpu_test::compare("resnet18.buffer", impl, name, gpu.buffers.at(name), value, 1e-4);
      long total = 0, off = 0;
      double worst = 0;
      for (const auto& [name, value] : cpu.after) compare_updates(name, impl, gpu, cpu, total, off, worst);
      const double fraction = static_cast<double>(off) / total;
      std::printf("%-8s resnet18.adam_update impl=%s: %ld of %ld updates differ by more than lr/10 (%.4f%%), largest "
                  "difference %.3g lr\n",
                  fraction <= 1e-3 ? "ok" : "FAIL", to_string(impl), off, total, 100 * fraction, worst);
      CHECK_MESSAGE(fraction <= 1e-3, "impl=", to_string(impl), ": ", off, " of ", total,
                    " Adam updates differ from the CPU's by more than lr/10");
    });
}

TEST_CASE("ResNet18 training on the GPU is bitwise repeatable") {
  for (Impl impl : gpu_test::cuda_impls())
    gpu_test::guarded("resnet18 determinism", impl, "ResNet18 4x1x64x64, two steps", [&] {
      const StepRecord first = train(Device::CUDA, DType::F32, impl, 2);
      const StepRecord second = train(Device::CUDA, DType::F32, impl, 2);
      bool same = first.losses == second.losses;
      int differing = 0;
      for (const auto& [name, value] : first.after) differing += !gpu_test::bitwise_equal(value, second.after.at(name));
      for (const auto& [name, value] : first.buffers) differing += !gpu_test::bitwise_equal(value, second.buffers.at(name));
      same = same && differing == 0;
      std::printf("%-8s resnet18 determinism impl=%s: losses %.10g %.10g vs %.10g %.10g, %d tensors differ\n",
                  same ? "ok" : "DIFFERS", to_string(impl), first.losses[0], first.losses[1], second.losses[0],
                  second.losses[1], differing);
      if (impl == Impl::Vendor)
        WARN_MESSAGE(same, "cuDNN/cuBLAS ResNet18 training differs between two identical runs (", differing,
                     " tensors)");
      else
        CHECK_MESSAGE(same, "impl=", to_string(impl), ": two identical runs differ (", differing, " tensors)");
    });
}

TEST_CASE("zz: largest error per compared quantity and impl") {
  gpu_test::print_worst_errors();
  CHECK(!gpu_test::worst_errors().empty());
}

}  // namespace
}  // namespace keynet
