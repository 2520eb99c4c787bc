// bench_cpu: speed of the CPU kernels and of whole training steps.
//
// Part 1 (ops): forward and backward time of each op through kernels/ops.h, median of --reps runs after
// one warm-up, with GFLOP/s for convolutions (forward 2*N*K*P*Q*C*R*S flops, backward twice that)
// and linear layers: the 3x3 128->128 conv at 28x28 (batch 16) and every convolution shape of ResNet18
// at 224x224 (batch 16), plus the other ops at ResNet18 sizes.
// Part 2 (nets): one training step (forward, MSE, backward, Adam) of NoseNet, FaceNet and ResNet18, in
// the same table layout as scripts/bench_torch_cpu.py prints, so the two can be compared side by side.
//
//   bench_cpu --threads 2 --reps 7            # everything
//   bench_cpu --part nets --impl fast
#include <CLI/CLI.hpp>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "layers/losses.h"
#include "layers/nets.h"
#include "layers/resnet.h"
#include "optim/optimizer.h"
#include "tensor/rng.h"

using namespace keynet;

namespace {

// Wall-clock time by default; --clock cpu measures the process's CPU time instead, which on a machine
// shared with other jobs says more about a single-threaded kernel than the wall clock does.
bool use_cpu_clock = false;

double now_seconds() {
  if (use_cpu_clock) {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median_seconds(int reps, const std::function<void()>& run) {
  run();  // warm-up: allocations, caches, thread pool
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const double start = now_seconds();
    run();
    times.push_back(now_seconds() - start);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct ConvCase {
  std::string name;
  ops::ConvDesc d;
  bool input_grad = true;
};

void bench_conv(const ConvCase& c, int reps, Impl impl, Rng& rng) {
  const ops::ConvDesc& d = c.d;
  Tensor inp = Tensor::uniform({d.N, d.C, d.H, d.W}, rng, -1, 1);
  Tensor weight = Tensor::uniform({d.K, d.C, d.R, d.S}, rng, -0.1, 0.1);
  Tensor bias = Tensor::uniform({d.K}, rng, -0.1, 0.1);
  Tensor out = Tensor::empty({d.N, d.K, d.P(), d.Q()});
  Tensor dout = Tensor::uniform(out.shape(), rng, -1, 1);
  Tensor dinp = Tensor::empty(inp.shape()), dweight = Tensor::zeros(weight.shape()), dbias = Tensor::zeros({d.K});
  const double forward = median_seconds(reps, [&] { ops::conv2d_forward(out, inp, weight, &bias, d, impl); });
  const double backward = median_seconds(reps, [&] {
    ops::conv2d_backward(c.input_grad ? &dinp : nullptr, dweight, &dbias, dout, inp, weight, d, impl);
  });
  const double flops = d.flops_forward();
  // Without the input gradient the backward pass does one GEMM, not two.
  const double backward_flops = c.input_grad ? 2 * flops : flops;
  std::printf("%-34s %9.2f %9.2f %9.2f %8.1f %8.1f %8.1f\n", c.name.c_str(), forward * 1e3, backward * 1e3,
              (forward + backward) * 1e3, flops / forward * 1e-9, backward_flops / backward * 1e-9,
              (flops + backward_flops) / (forward + backward) * 1e-9);
}

ops::ConvDesc conv(int N, int C, int H, int K, int kernel, int stride, int pad) {
  return {.N = N, .C = C, .H = H, .W = H, .K = K, .R = kernel, .S = kernel, .stride = stride, .pad = pad};
}

void bench_ops(int reps, Impl impl) {
  Rng rng(1);
  std::printf("\n== convolutions (forward, backward = dinp + dweight + dbias), median of %d\n", reps);
  std::printf("%-34s %9s %9s %9s %8s %8s %8s\n", "shape", "fwd ms", "bwd ms", "total ms", "fwd GF/s", "bwd GF/s",
              "all GF/s");
  std::vector<ConvCase> cases = {
      {"3x3 128->128 28x28 N16", conv(16, 128, 28, 128, 3, 1, 1)},
      {"resnet conv1 7x7/2 1->64 224 N16", conv(16, 1, 224, 64, 7, 2, 3), false},
      {"resnet 3x3 64->64 56 N16", conv(16, 64, 56, 64, 3, 1, 1)},
      {"resnet 3x3/2 64->128 56 N16", conv(16, 64, 56, 128, 3, 2, 1)},
      {"resnet 1x1/2 64->128 56 N16", conv(16, 64, 56, 128, 1, 2, 0)},
      {"resnet 3x3 128->128 28 N16", conv(16, 128, 28, 128, 3, 1, 1)},
      {"resnet 3x3/2 128->256 28 N16", conv(16, 128, 28, 256, 3, 2, 1)},
      {"resnet 1x1/2 128->256 28 N16", conv(16, 128, 28, 256, 1, 2, 0)},
      {"resnet 3x3 256->256 14 N16", conv(16, 256, 14, 256, 3, 1, 1)},
      {"resnet 3x3/2 256->512 14 N16", conv(16, 256, 14, 512, 3, 2, 1)},
      {"resnet 1x1/2 256->512 14 N16", conv(16, 256, 14, 512, 1, 2, 0)},
      {"resnet 3x3 512->512 7 N16", conv(16, 512, 7, 512, 3, 1, 1)},
      {"1x1 256->64 28 N16 (direct path)", conv(16, 256, 28, 64, 1, 1, 0)},
      {"3x3 128->128 28x28 N1", conv(1, 128, 28, 128, 3, 1, 1)},
  };
  for (const ConvCase& c : cases) bench_conv(c, reps, impl, rng);

  std::printf("\n== other ops at ResNet18 sizes (batch 16), median of %d\n", reps);
  std::printf("%-34s %9s %9s %9s\n", "op", "fwd ms", "bwd ms", "total ms");
  auto row = [](const char* name, double forward, double backward) {
    std::printf("%-34s %9.3f %9.3f %9.3f\n", name, forward * 1e3, backward * 1e3, (forward + backward) * 1e3);
  };
  const Shape big = {16, 64, 112, 112};
  Tensor x = Tensor::uniform(big, rng, -1, 1), y = Tensor::empty(big), dy = Tensor::uniform(big, rng, -1, 1);
  Tensor dx = Tensor::empty(big);
  row("relu 16x64x112x112", median_seconds(reps, [&] { ops::relu_forward(y, x, impl); }),
      median_seconds(reps, [&] { ops::relu_backward(dx, dy, y, impl); }));
  row("add 16x64x112x112", median_seconds(reps, [&] { ops::add(y, x, dy, impl); }), 0);
  {
    const ops::BatchNormDesc d{.N = 16, .C = 64, .HW = 112 * 112};
    Tensor gamma = Tensor::full({64}, 1.0), beta = Tensor::zeros({64}), mean = Tensor::zeros({64});
    Tensor invstd = Tensor::zeros({64}), rmean = Tensor::zeros({64}), rvar = Tensor::full({64}, 1.0);
    Tensor dgamma = Tensor::zeros({64}), dbeta = Tensor::zeros({64});
    row("batch_norm2d train 16x64x112x112", median_seconds(reps, [&] {
          ops::batch_norm2d_forward_train(y, mean, invstd, rmean, rvar, x, gamma, beta, d, impl);
        }),
        median_seconds(reps, [&] {
          ops::batch_norm2d_backward(dx, dgamma, dbeta, dy, x, gamma, mean, invstd, d, impl);
        }));
  }
  {
    const ops::PoolDesc d{.N = 16, .C = 64, .H = 112, .W = 112, .kernel = 3, .stride = 2, .pad = 1};
    Tensor out = Tensor::empty({16, 64, 56, 56}), dout = Tensor::uniform(out.shape(), rng, -1, 1);
    row("max_pool2d 3/2 pad 1 16x64x112x112", median_seconds(reps, [&] { ops::max_pool2d_forward(out, x, d, impl); }),
        median_seconds(reps, [&] { ops::max_pool2d_backward(dx, dout, x, out, d, impl); }));
    const ops::PoolDesc d2{.N = 16, .C = 64, .H = 112, .W = 112, .kernel = 2, .stride = 2, .pad = 0};
    row("max_pool2d 2/2 16x64x112x112", median_seconds(reps, [&] { ops::max_pool2d_forward(out, x, d2, impl); }),
        median_seconds(reps, [&] { ops::max_pool2d_backward(dx, dout, x, out, d2, impl); }));
  }
  {
    Tensor feat = Tensor::uniform({16, 512, 7, 7}, rng, -1, 1), pooled = Tensor::empty({16, 512});
    Tensor dpooled = Tensor::uniform({16, 512}, rng, -1, 1), dfeat = Tensor::empty(feat.shape());
    row("global_avg_pool 16x512x7x7", median_seconds(reps, [&] { ops::global_avg_pool_forward(pooled, feat, impl); }),
        median_seconds(reps, [&] { ops::global_avg_pool_backward(dfeat, dpooled, impl); }));
  }
  {
    const int N = 32, I = 3840, O = 512;
    Tensor inp = Tensor::uniform({N, I}, rng, -1, 1), w = Tensor::uniform({O, I}, rng, -0.1, 0.1);
    Tensor b = Tensor::zeros({O}), out = Tensor::empty({N, O}), dout = Tensor::uniform({N, O}, rng, -1, 1);
    Tensor dinp = Tensor::empty({N, I}), dw = Tensor::zeros({O, I}), db = Tensor::zeros({O});
    const double forward = median_seconds(reps, [&] { ops::linear_forward(out, inp, w, &b, impl); });
    const double backward = median_seconds(reps, [&] { ops::linear_backward(&dinp, dw, &db, dout, inp, w, impl); });
    row("linear 32x3840->512", forward, backward);
    std::printf("%-34s %8.1f GFLOP/s fwd+bwd\n", "", 6.0 * N * I * O / (forward + backward) * 1e-9);
  }
  {
    const int64_t n = 11'200'000;  // about ResNet18's parameter count
    Tensor p = Tensor::uniform({n}, rng, -1, 1), g = Tensor::uniform({n}, rng, -1, 1);
    Tensor m = Tensor::zeros({n}), v = Tensor::zeros({n});
    int64_t step = 0;
    row("adam 11.2M params", median_seconds(reps, [&] {
          ops::adam_update(p, g, m, v, ops::AdamDesc{.step = ++step}, impl);
        }),
        0);
  }
}

struct NetCase {
  std::string name;
  int batch, height, width, outputs;
  std::function<std::unique_ptr<Module>(Rng&)> make;
};

// Resident memory in MiB: the process's peak so far (getrusage), and now (/proc/self/status, 0 where
// there is none).
double peak_resident_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // kilobytes on Linux
}

double resident_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// `start MiB` is the resident memory when the row began and `peak MiB` the process's peak once it ended:
// run one net alone (--net) for its peak.
void bench_nets(int reps, Impl impl, const std::string& only) {
  std::printf("\n== training step (forward, MSE, backward, Adam), median of %d\n", reps);
  std::printf("%-10s %6s %12s %12s %12s %10s %10s\n", "net", "batch", "input", "ms/step", "images/s", "start MiB",
              "peak MiB");
  const std::vector<NetCase> nets = {
      {"nosenet", 4, 60, 80, 2, [](Rng& rng) { return std::unique_ptr<Module>(make_nose_net(rng)); }},
      {"nosenet", 64, 60, 80, 2, [](Rng& rng) { return std::unique_ptr<Module>(make_nose_net(rng)); }},
      {"facenet", 4, 120, 160, 116, [](Rng& rng) { return std::unique_ptr<Module>(make_face_net(rng)); }},
      {"facenet", 32, 120, 160, 116, [](Rng& rng) { return std::unique_ptr<Module>(make_face_net(rng)); }},
      {"resnet18", 16, 224, 224, 136, [](Rng& rng) { return std::make_unique<ResNet18>(1, 136, rng); }},
  };
  for (const NetCase& c : nets) {
    if (!only.empty() && c.name != only) continue;
    const double start_mib = resident_mib();
    Rng rng(42);
    std::unique_ptr<Module> net = c.make(rng);
    net->set_impl(impl);
    net->set_needs_input_grad(false);  // as in PyTorch, the images need no gradient
    Adam adam(*net, AdamOptions{.lr = 1e-4});
    adam.set_impl(impl);
    MSELoss loss;
    loss.set_impl(impl);
    const Tensor images = Tensor::uniform({c.batch, 1, c.height, c.width}, rng, 0, 1);
    const Tensor targets = Tensor::uniform({c.batch, c.outputs}, rng, -1, 1);
    const double seconds = median_seconds(reps, [&] {
      adam.zero_grad();
      const Tensor pred = net->forward(images, Mode::Train);
      loss.forward(pred, targets);
      net->backward(loss.backward());
      adam.step();
    });
    std::printf("%-10s %6d %12s %12.2f %12.1f %10.0f %10.0f\n", c.name.c_str(), c.batch,
                (std::to_string(c.height) + "x" + std::to_string(c.width)).c_str(), seconds * 1e3,
                c.batch / seconds, start_mib, peak_resident_mib());
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Speed of the CPU kernels and of CPU training steps"};
  int threads = 2, reps = 7;
  std::string part = "all", impl_name = "fast", only, clock = "wall";
  app.add_option("--threads", threads, "CPU threads (KEYNET_THREADS)")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "timed runs per measurement (the median is printed)")->check(CLI::PositiveNumber);
  app.add_option("--part", part, "ops, nets or all")->check(CLI::IsMember({"ops", "nets", "all"}));
  app.add_option("--impl", impl_name, "ref or fast")->check(CLI::IsMember({"ref", "fast"}));
  app.add_option("--net", only, "only this net: nosenet, facenet or resnet18");
  app.add_option("--clock", clock, "wall (default) or cpu (process CPU time)")->check(CLI::IsMember({"wall", "cpu"}));
  CLI11_PARSE(app, argc, argv);
  try {
    set_cpu_threads(threads);
    use_cpu_clock = clock == "cpu";
    const Impl impl = parse_impl(impl_name);
    std::printf("bench_cpu: impl=%s threads=%d reps=%d clock=%s\n", to_string(impl), threads, reps, clock.c_str());
    if (part != "nets") bench_ops(reps, impl);
    if (part != "ops") bench_nets(reps, impl, only);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cpu: %s\n", e.what());
    return 1;
  }
  return 0;
}
