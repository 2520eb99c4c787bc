// GPU benchmark: our handwritten kernels (impl=fast) against cuDNN/cuBLAS (impl=vendor).
//   ops:      ResNet18's 3x3 convolutions (forward, data gradient, weight gradient) and SGEMMs:
//             time per call and achieved TFLOP/s, ours vs vendor.
// Timing: CUDA events around `calls` back-to-back launches, after warm-up; the median of several
// samples. TF32 stays off (see kernels/vendor/vendor.h). Output: markdown tables on stdout and,
// with --markdown FILE, in FILE too.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <utility>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "tensor/cuda_memory.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

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

struct Report {
  std::ostringstream text;
  void line(const std::string& s) {
    text << s << "\n";
    std::cout << s << std::endl;
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
  CLI11_PARSE(app, argc, argv);
  try {
    if (!cuda_memory::device_available()) {
      std::cerr << "bench_gpu: no CUDA device (or a build without CUDA)\n";
      return 1;
    }
    Report report;
    report.line("## keynet on the GPU");
    bench_ops(report, op_batch);
    if (!markdown.empty()) std::ofstream(markdown) << report.text.str();
  } catch (const std::exception& e) {
    std::cerr << "bench_gpu: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
