// GPU benchmark: our handwritten kernels (impl=fast) against cuDNN/cuBLAS (impl=vendor).
//   networks: training steps per second (train::step: forward, MSE, backward, Adam) of NoseNet (batch 64), FaceNet
//             (batch 32) and ResNet18 (1x224x224, 136 outputs; batch 64 and 256), and the peak device
//             memory of a step (keynet's allocator: tensors in use, not its cache).
//   ops:      ResNet18's 3x3 convolutions (forward, data gradient, weight gradient) and SGEMMs:
//             time per call and achieved TFLOP/s, ours vs vendor.
// scripts/bench_torch_gpu.py measures the same with PyTorch.
// Timing: CUDA events around `calls` back-to-back launches, after warm-up; the median of several
// samples. TF32 stays off (see kernels/cudnn/cudnn.h). Output: markdown tables on stdout and,
// with --markdown FILE, in FILE too.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <utility>
#include <string>
#include <vector>

#include "kernels/cudnn/cudnn.h"
#include "kernels/ops.h"
#include "layers/losses.h"
#include "layers/nets.h"
#include "layers/resnet.h"
#include "optim/optimizer.h"
#include "tensor/cuda_memory.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"
#include "tensor/version.h"
#include "train/step.h"

#ifdef KEYNET_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace keynet {
namespace {

constexpr Device GPU = Device::CUDA;

// Median milliseconds per call of fn: `samples` samples of `calls` calls each, after `warmup` calls.
double time_ms(const std::function<void()>& fn, int warmup = 2, int samples = 5, int calls = 3) {
#ifdef KEYNET_WITH_CUDA
  for (int i = 0; i < warmup; ++i) fn();
  cuda_memory::synchronize();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> ms;
  for (int s = 0; s < samples; ++s) {
    cudaEventRecord(start);
    for (int c = 0; c < calls; ++c) fn();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float elapsed = 0;
    cudaEventElapsedTime(&elapsed, start, stop);
    ms.push_back(elapsed / calls);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cuda_memory::synchronize();  // surfaces any asynchronous fault of fn
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
#else
  (void)fn, (void)warmup, (void)samples, (void)calls;
  KEYNET_FAIL("bench_gpu needs a CUDA build");
#endif
}

std::string vendor_description() {
#ifdef KEYNET_WITH_CUDNN
  return cudnn::describe();
#else
  return "none (built without cuDNN)";
#endif
}

// Each line goes to stdout and, flushed at once, to the markdown file: a crash keeps what was measured.
struct Report {
  std::ofstream file;
  void line(const std::string& s) {
    std::cout << s << std::endl;
    if (file.is_open()) file << s << std::endl;
  }
};

std::string fmt(const char* format, double a, double b = 0, double c = 0, double d = 0, double e = 0) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, a, b, c, d, e);
  return buffer;
}

// Milliseconds per call of run(impl) for Fast and Vendor; -1 where an impl fails (the error is printed).
std::pair<double, double> fast_and_vendor(const char* what, const std::function<void(Impl)>& run) {
  double ms[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    const Impl impl = i == 0 ? Impl::Fast : Impl::Vendor;
    try {
      ms[i] = time_ms([&] { run(impl); });
    } catch (const std::exception& e) {
      std::cerr << what << " impl=" << to_string(impl) << ": " << e.what() << "\n";
    }
  }
  return {ms[0], ms[1]};
}

// A ResNet18 3x3 convolution: forward, then backward (data and weight gradients in one call).
void bench_conv(Report& r, const char* name, const ops::ConvDesc& d, Rng& rng) {
  const Tensor inp = Tensor::uniform({d.N, d.C, d.H, d.W}, rng, -1, 1).to(GPU);
  const Tensor weight = Tensor::uniform({d.K, d.C, d.R, d.S}, rng, -0.1, 0.1).to(GPU);
  const Tensor dout = Tensor::uniform({d.N, d.K, d.P(), d.Q()}, rng, -1, 1).to(GPU);
  Tensor out = Tensor::zeros({d.N, d.K, d.P(), d.Q()}, GPU), dinp = Tensor::zeros({d.N, d.C, d.H, d.W}, GPU);
  Tensor dweight = Tensor::zeros({d.K, d.C, d.R, d.S}, GPU);
  const double gflop = d.flops_forward() / 1e9;  // the data and the weight gradient cost as much each
  const auto [fwd_fast, fwd_vendor] =
      fast_and_vendor(name, [&](Impl impl) { ops::conv2d_forward(out, inp, weight, nullptr, d, impl); });
  r.line(std::string("| ") + name + " | forward" +
         fmt(" | %.3f | %.1f | %.3f | %.1f | %.2fx |", fwd_fast, gflop / fwd_fast, fwd_vendor, gflop / fwd_vendor,
             fwd_fast / fwd_vendor));
  const auto [bwd_fast, bwd_vendor] = fast_and_vendor(
      name, [&](Impl impl) { ops::conv2d_backward(&dinp, dweight, nullptr, dout, inp, weight, d, impl); });
  r.line(std::string("| ") + name + " | backward (data+weight)" +
         fmt(" | %.3f | %.1f | %.3f | %.1f | %.2fx |", bwd_fast, 2 * gflop / bwd_fast, bwd_vendor,
             2 * gflop / bwd_vendor, bwd_fast / bwd_vendor));
}

struct NetworkTiming {
  double ms = -1;
  double peak_mib = -1;
};

// Median time of one training step of `model` at `impl`, and the peak memory of those steps.
NetworkTiming bench_step(Module& model, Impl impl, int batch, const Shape& sample, int outputs) {
  Rng rng(3);
  to_device(model, GPU);
  model.set_impl(impl);
  model.set_needs_input_grad(false);  // as in PyTorch, the input needs no gradient
  Shape input{batch};
  input.insert(input.end(), sample.begin(), sample.end());
  const Tensor x = Tensor::uniform(input, rng, 0, 1).to(GPU);
  const Tensor target = Tensor::uniform({batch, outputs}, rng, 0, 1).to(GPU);
  MSELoss loss;
  loss.set_impl(impl);
  Adam adam(model, AdamOptions{.lr = 1e-3});
  adam.set_impl(impl);
  auto step = [&] { train::step(model, loss, adam, x, target); };
  step();  // allocates optimizer state and warms the allocator's cache
  cuda_memory::synchronize();
  cuda_memory::reset_peak();
  NetworkTiming t;
  t.ms = time_ms(step, 1, 5, 1);
  t.peak_mib = cuda_memory::peak_bytes() / 1048576.0;
  return t;
}

void bench_networks(Report& r) {
  r.line("");
  r.line("### Training step (forward, MSE, backward, Adam), fp32");
  r.line("");
  r.line("| network | batch | impl | ms/step | steps/s | peak MiB |");
  r.line("|---|---|---|---|---|---|");
  struct Case {
    const char* name;
    int batch;
    Shape sample;
    int outputs;
    std::function<std::unique_ptr<Module>(Rng&)> make;
  };
  const Case cases[] = {
      {"NoseNet 1x60x80", 64, {1, 60, 80}, 2, [](Rng& rng) { return std::unique_ptr<Module>(make_nose_net(rng)); }},
      {"FaceNet 1x120x160", 32, {1, 120, 160}, 116,
       [](Rng& rng) { return std::unique_ptr<Module>(make_face_net(rng)); }},
      {"ResNet18 1x224x224", 64, {1, 224, 224}, 136,
       [](Rng& rng) { return std::unique_ptr<Module>(new ResNet18(1, 136, rng)); }},
      {"ResNet18 1x224x224", 256, {1, 224, 224}, 136,
       [](Rng& rng) { return std::unique_ptr<Module>(new ResNet18(1, 136, rng)); }},
  };
  for (const Case& c : cases)
    for (Impl impl : {Impl::Fast, Impl::Vendor}) {
      NetworkTiming t;
      try {
        Rng rng(42);
        const auto model = c.make(rng);
        t = bench_step(*model, impl, c.batch, c.sample, c.outputs);
      } catch (const std::exception& e) {
        std::cerr << c.name << " batch " << c.batch << " impl=" << to_string(impl) << ": " << e.what() << "\n";
      }
      r.line(std::string("| ") + c.name + fmt(" | %.0f | ", c.batch) + to_string(impl) +
             fmt(" | %.2f | %.1f | %.0f |", t.ms, 1000.0 / t.ms, t.peak_mib));
    }
}

void bench_ops(Report& r, int batch) {
  Rng rng(1);
  r.line("");
  r.line(fmt("### ResNet18 3x3 convolutions, batch %.0f (fp32, TF32 off)", batch));
  r.line("");
  r.line("| conv | direction | ours ms | ours TFLOP/s | cuDNN ms | cuDNN TFLOP/s | ours/cuDNN time |");
  r.line("|---|---|---|---|---|---|---|");
  struct Layer {
    const char* name;
    int C, H, K, stride;
  };
  const Layer layers[] = {{"layer1 64->64 56x56", 64, 56, 64, 1},   {"layer2 64->128 56x56 s2", 64, 56, 128, 2},
                          {"layer2 128->128 28x28", 128, 28, 128, 1}, {"layer3 256->256 14x14", 256, 14, 256, 1},
                          {"layer4 512->512 7x7", 512, 7, 512, 1}};
  for (const Layer& l : layers)
    bench_conv(r, l.name, {.N = batch, .C = l.C, .H = l.H, .W = l.H, .K = l.K, .R = 3, .S = 3, .stride = l.stride, .pad = 1},
               rng);

  r.line("");
  r.line("### SGEMM through linear_forward: out (N,O) = inp (N,I) weight^T");
  r.line("");
  r.line("| N x I x O | ours ms | ours TFLOP/s | cuBLAS ms | cuBLAS TFLOP/s | ours/cuBLAS time |");
  r.line("|---|---|---|---|---|---|");
  const int sizes[][3] = {{batch, 512, 136}, {batch * 49, 512, 512}, {4096, 4096, 4096}};
  for (const auto& s : sizes) {
    const int N = s[0], I = s[1], O = s[2];
    const Tensor inp = Tensor::uniform({N, I}, rng, -1, 1).to(GPU), weight = Tensor::uniform({O, I}, rng, -1, 1).to(GPU);
    Tensor out = Tensor::zeros({N, O}, GPU);
    const double gflop = 2.0 * N * I * O / 1e9;
    const auto [fast, vendor] =
        fast_and_vendor("sgemm", [&](Impl impl) { ops::linear_forward(out, inp, weight, nullptr, impl); });
    r.line(fmt("| %.0f x %.0f x %.0f", N, I, O) +
           fmt(" | %.3f | %.1f | %.3f | %.1f | %.2fx |", fast, gflop / fast, vendor, gflop / vendor, fast / vendor));
  }
}

}  // namespace
}  // namespace keynet

int main(int argc, char** argv) {
  using namespace keynet;
  CLI::App app{"keynet GPU benchmark: handwritten CUDA kernels vs cuDNN/cuBLAS"};
  std::string markdown;
  int op_batch = 64;
  app.add_option("--markdown", markdown, "also write the tables to this file");
  app.add_option("--op-batch", op_batch, "batch of the per-op convolution benchmark");
  bool ops_only = false;
  app.add_flag("--ops-only", ops_only, "skip the network training steps");
  app.set_version_flag("--version", keynet::version_line("bench_gpu"));
  CLI11_PARSE(app, argc, argv);
  try {
    if (!cuda_memory::device_available()) {
      std::cerr << "bench_gpu: no CUDA device (or a build without CUDA)\n";
      return 1;
    }
    Report report;
    if (!markdown.empty()) report.file.open(markdown);
    report.line("## keynet on the GPU");
    report.line("");
    report.line(std::string("vendor path: ") + vendor_description());
    if (!ops_only) bench_networks(report);
    bench_ops(report, op_batch);
  } catch (const std::exception& e) {
    std::cerr << "bench_gpu: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
