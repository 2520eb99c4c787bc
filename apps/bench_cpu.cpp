// bench_cpu: speed of the CPU kernels and of whole training steps.
//
// Part 1 (ops): forward and backward time of each op through kernels/ops.h, median of --reps runs after
// one warm-up, with GFLOP/s for convolutions (forward 2*N*K*P*Q*C*R*S flops, backward twice that)
// and linear layers: the 3x3 128->128 conv at 28x28 (batch 16), every convolution shape of ResNet18 at
// 224x224 (batch 16) and of the NoseNet (batch 64) and FaceNet (batch 32), plus the other ops at ResNet18
// sizes.
// Part 2 (nets): one train::step (forward, MSE, backward, Adam) of NoseNet, FaceNet and ResNet18, in
// the same table layout as scripts/bench_torch_cpu.py prints, so the two can be compared side by side.
// Part 3 (gemm, only when asked for): our SGEMM (kernels/cpu/fast/gemm.h) against Eigen's product in
// GFLOP/s: 2048^3 on --threads threads, ours with each micro-kernel, Eigen both split over the threads by
// columns as the fast kernels do and with its own threads (Eigen::setNbThreads); then ResNet18's
// forward convolution GEMMs (M = K_out, N = the columns of one thread's work item, K = C*R*S), each thread
// multiplying its own operands at the same time, as conv2d_forward does.
//
//   bench_cpu --threads 2 --reps 7            # everything
//   bench_cpu --part nets --impl fast
//   bench_cpu --part ops --impl vendor         # conv and linear on Eigen's GEMM, to set beside fast
// Part 4 (algorithms, only when asked for): each direction (forward, data gradient, weight gradient) of
// the 3x3 stride-1 convolutions of ResNet18 (224 and part 3's 160 input) and of every stride-1
// convolution of the IMM nets, by the GEMM convolution, Winograd (kernels/cpu/fast/winograd.h) and the
// direct convolution (direct_conv.h) in alternation, with which one the automatic rules pick: the
// measurements behind those rules.
//   bench_cpu --part gemm --threads 2 --reps 7
//   bench_cpu --part algorithms --threads 1 --clock cpu
#include <CLI/CLI.hpp>
#include <omp.h>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "kernels/cpu/fast/direct_conv.h"
#include "kernels/cpu/fast/gemm.h"
#include "kernels/cpu/fast/winograd.h"
#include "kernels/ops.h"
#include "layers/losses.h"
#include "layers/nets.h"
#include "layers/resnet.h"
#include "optim/optimizer.h"
#include "tensor/rng.h"
#include "tensor/version.h"
#include "train/step.h"

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

// Every convolution of the IMM benchmark nets (stride 1, H x W maps: FaceNet at batch 32, NoseNet at 64);
// the first layers need no input gradient.
std::vector<ConvCase> imm_convolutions() {
  const auto rect = [](int N, int C, int H, int W, int K, int kernel, int pad) {
    return ops::ConvDesc{.N = N, .C = C, .H = H, .W = W, .K = K, .R = kernel, .S = kernel, .stride = 1, .pad = pad};
  };
  return {
      {"facenet 7x7 1->16 120x160 N32", rect(32, 1, 120, 160, 16, 7, 3), false},
      {"facenet 5x5 16->32 60x80 N32", rect(32, 16, 60, 80, 32, 5, 2)},
      {"facenet 3x3 32->64 30x40 N32", rect(32, 32, 30, 40, 64, 3, 1)},
      {"facenet 3x3 64->128 15x20 N32", rect(32, 64, 15, 20, 128, 3, 1)},
      {"facenet 3x3 128->256 7x10 N32", rect(32, 128, 7, 10, 256, 3, 1)},
      {"nosenet 5x5 1->12 60x80 N64", rect(64, 1, 60, 80, 12, 5, 2), false},
      {"nosenet 5x5 12->24 30x40 pad 0 N64", rect(64, 12, 30, 40, 24, 5, 0)},
      {"nosenet 3x3 24->32 13x18 pad 0 N64", rect(64, 24, 13, 18, 32, 3, 0)},
  };
}

// Each direction of the 3x3 stride-1 convolutions (Winograd's shapes) and of the IMM nets' convolutions by
// every algorithm that applies to it, alternating; "-" where one does not apply.
void bench_conv_algorithms(int reps) {
  using cpu::fast::ConvAlgo;
  using cpu::fast::ConvDirection;
  Rng rng(1);
  std::vector<ConvCase> cases = {
      {"resnet224 64->64 56 N16", conv(16, 64, 56, 64, 3, 1, 1)},
      {"resnet224 128->128 28 N16", conv(16, 128, 28, 128, 3, 1, 1)},
      {"resnet224 256->256 14 N16", conv(16, 256, 14, 256, 3, 1, 1)},
      {"resnet224 512->512 7 N16", conv(16, 512, 7, 512, 3, 1, 1)},
      {"resnet160 64->64 40 N16", conv(16, 64, 40, 64, 3, 1, 1)},
      {"resnet160 128->128 20 N16", conv(16, 128, 20, 128, 3, 1, 1)},
      {"resnet160 256->256 10 N16", conv(16, 256, 10, 256, 3, 1, 1)},
      {"resnet160 512->512 5 N16", conv(16, 512, 5, 512, 3, 1, 1)},
  };
  for (const ConvCase& c : imm_convolutions()) cases.push_back(c);  // every direction, the first layers' too
  const ConvAlgo algos[3] = {ConvAlgo::gemm, ConvAlgo::winograd, ConvAlgo::direct};
  const ConvDirection directions[3] = {ConvDirection::forward, ConvDirection::data_gradient,
                                       ConvDirection::weight_gradient};
  std::printf("\n== stride-1 convolutions by direction and algorithm, ms (median of %d, alternating); "
              "* = the automatic rule's choice\n", reps);
  std::printf("%-34s %26s %26s %26s\n", "shape", "forward", "data grad", "weight grad");
  std::printf("%-34s", "");
  for (int dir = 0; dir < 3; ++dir) std::printf(" %8s %8s %8s", "gemm", "wino", "direct");
  std::printf("\n");
  const ConvAlgo saved = cpu::fast::conv_algo();
  for (const ConvCase& c : cases) {
    const ops::ConvDesc& d = c.d;
    Tensor inp = Tensor::uniform({d.N, d.C, d.H, d.W}, rng, -1, 1);
    Tensor weight = Tensor::uniform({d.K, d.C, d.R, d.S}, rng, -0.1, 0.1);
    Tensor out = Tensor::empty({d.N, d.K, d.P(), d.Q()});
    Tensor dout = Tensor::uniform(out.shape(), rng, -1, 1);
    Tensor dinp = Tensor::empty(inp.shape()), dweight = Tensor::zeros(weight.shape());
    const bool applies[3] = {true, cpu::fast::winograd_applies(d), cpu::fast::direct_applies(d)};
    // [direction][algorithm]: the weight gradient alone, then with the data gradient (the difference is
    // the data gradient's time)
    std::vector<double> times[3][3];
    for (int rep = 0; rep <= reps; ++rep)
      for (int algo = 0; algo < 3; ++algo) {
        if (!applies[algo]) continue;
        cpu::fast::set_conv_algo(algos[algo]);
        const double t0 = now_seconds();
        ops::conv2d_forward(out, inp, weight, nullptr, d, Impl::Fast);
        const double t1 = now_seconds();
        ops::conv2d_backward(nullptr, dweight, nullptr, dout, inp, weight, d, Impl::Fast);
        const double t2 = now_seconds();
        ops::conv2d_backward(&dinp, dweight, nullptr, dout, inp, weight, d, Impl::Fast);
        const double t3 = now_seconds();
        if (rep == 0) continue;  // warm-up
        times[0][algo].push_back(t1 - t0);
        times[2][algo].push_back(t2 - t1);
        times[1][algo].push_back((t3 - t2) - (t2 - t1));
      }
    cpu::fast::set_conv_algo(ConvAlgo::automatic);
    std::printf("%-34s", c.name.c_str());
    for (int dir = 0; dir < 3; ++dir) {
      const int chosen = cpu::fast::uses_winograd(d, directions[dir]) ? 1
                         : cpu::fast::uses_direct(d, directions[dir]) ? 2
                                                                      : 0;
      for (int algo = 0; algo < 3; ++algo) {
        std::vector<double>& v = times[dir][algo];
        if (v.empty()) {
          std::printf(" %8s", "-");
          continue;
        }
        std::sort(v.begin(), v.end());
        std::printf(" %7.2f%s", v[v.size() / 2] * 1e3, algo == chosen ? "*" : " ");
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  cpu::fast::set_conv_algo(saved);
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
  for (const ConvCase& c : imm_convolutions()) cases.push_back(c);
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
    // batch norm then ReLU: the two ops one after the other, then fused (ResNet18's stem and every bn1)
    Tensor z = Tensor::empty(big), dz = Tensor::empty(big);
    row("batch_norm2d + relu 16x64x112x112", median_seconds(reps, [&] {
          ops::batch_norm2d_forward_train(y, mean, invstd, rmean, rvar, x, gamma, beta, d, impl);
          ops::relu_forward(z, y, impl);
        }),
        median_seconds(reps, [&] {
          ops::relu_backward(dz, dy, z, impl);
          ops::batch_norm2d_backward(dx, dgamma, dbeta, dz, x, gamma, mean, invstd, d, impl);
        }));
    row("batch_norm2d_relu 16x64x112x112", median_seconds(reps, [&] {
          ops::batch_norm2d_relu_forward_train(z, mean, invstd, rmean, rvar, x, gamma, beta, d, impl);
        }),
        median_seconds(reps, [&] {
          ops::batch_norm2d_relu_backward(dx, dgamma, dbeta, dy, x, z, gamma, mean, invstd, d, impl);
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
    const double seconds = median_seconds(reps, [&] { train::step(*net, loss, adam, images, targets); });
    std::printf("%-10s %6d %12s %12.2f %12.1f %10.0f %10.0f\n", c.name.c_str(), c.batch,
                (std::to_string(c.height) + "x" + std::to_string(c.width)).c_str(), seconds * 1e3,
                c.batch / seconds, start_mib, peak_resident_mib());
    std::fflush(stdout);
  }
}

using cpu::fast::GemmKernel;
using EigenMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using EigenView = Eigen::Map<EigenMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstEigenView = Eigen::Map<const EigenMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// C (M,N) = A (M,K) * B (K,N), the columns of C split over `threads` in blocks of 16, each thread running
// a single-threaded Eigen product (as the fast kernels use Eigen).
void eigen_split_columns(int threads, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  Eigen::setNbThreads(1);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t units = (N + 15) / 16;
    const int64_t begin = std::min(N, units * t / team * 16);
    const int64_t end = t + 1 == team ? N : std::min(N, units * (t + 1) / team * 16);
    if (end > begin)
      EigenView(C + begin, M, end - begin, Eigen::OuterStride<>(N)).noalias() =
          ConstEigenView(A, M, K, Eigen::OuterStride<>(K)) *
          ConstEigenView(B + begin, K, end - begin, Eigen::OuterStride<>(N));
  }
}

void bench_gemm(int reps, int threads) {
  Rng rng(3);
  auto random = [&](int64_t count) {
    std::vector<float> v(static_cast<std::size_t>(count));
    for (float& x : v) x = float(rng.uniform(-1, 1));
    return v;
  };
  auto gflops = [](double M, double N, double K, double seconds) { return 2 * M * N * K / seconds * 1e-9; };
  {
    const int64_t n = 2048;
    const std::vector<float> A = random(n * n), B = random(n * n);
    std::vector<float> C(static_cast<std::size_t>(n * n));
    std::printf("\n== SGEMM %ld^3 (row-major, C = A * B), %d threads, median of %d\n", long(n), threads, reps);
    std::printf("%-46s %9s %9s\n", "", "ms", "GFLOP/s");
    auto row = [&](const std::string& name, const std::function<void()>& run) {
      const double seconds = median_seconds(reps, run);
      std::printf("%-46s %9.2f %9.1f\n", name.c_str(), seconds * 1e3, gflops(n, n, n, seconds));
      std::fflush(stdout);
    };
    for (GemmKernel kernel : {GemmKernel::automatic, GemmKernel::avx512, GemmKernel::avx2}) {
      if (!cpu::fast::gemm_kernel_supported(kernel)) continue;
      const std::string name =
          kernel == GemmKernel::automatic
              ? std::string("ours, sgemm_parallel (") + to_string(cpu::fast::gemm_default_kernel()) + ")"
              : std::string("ours, sgemm_parallel, ") + to_string(kernel) + " forced";
      row(name, [&] {
        cpu::fast::sgemm_parallel(threads, false, false, n, n, n, A.data(), n, B.data(), n, C.data(), n, false, kernel);
      });
    }
    row("Eigen, columns split over threads",
        [&] { eigen_split_columns(threads, n, n, n, A.data(), B.data(), C.data()); });
    row("Eigen, its own threads (setNbThreads)", [&] {
      Eigen::setNbThreads(threads);
      EigenView(C.data(), n, n, Eigen::OuterStride<>(n)).noalias() =
          ConstEigenView(A.data(), n, n, Eigen::OuterStride<>(n)) *
          ConstEigenView(B.data(), n, n, Eigen::OuterStride<>(n));
      Eigen::setNbThreads(1);
    });
  }
  struct Shape {
    const char* name;
    int64_t M, N, K;
  };
  // Batch 16 at 224x224 on 2 threads: images with fewer than 256 output positions are grouped
  // (conv2d.cpp's plan_work), so from 14x14 on a work item is 392 columns wide.
  const Shape shapes[] = {
      {"conv1 7x7/2 1->64 (112x112)", 64, 12544, 49}, {"3x3 64->64 56", 64, 3136, 576},
      {"3x3/2 64->128 56", 128, 784, 576},           {"1x1/2 64->128 56", 128, 784, 64},
      {"3x3 128->128 28", 128, 784, 1152},           {"3x3/2 128->256 28", 256, 392, 1152},
      {"1x1/2 128->256 28", 256, 392, 128},          {"3x3 256->256 14", 256, 392, 2304},
      {"3x3/2 256->512 14", 512, 392, 2304},         {"1x1/2 256->512 14", 512, 392, 256},
      {"3x3 512->512 7", 512, 392, 4608},
  };
  std::printf("\n== ResNet18 forward conv GEMMs, C (M,N) = W (M,K) * col (K,N), one per thread on %d threads, "
              "median of %d\n", threads, reps);
  std::printf("%-30s %5s %6s %5s %10s %10s %7s\n", "shape", "M", "N", "K", "ours GF/s", "Eigen GF/s", "ratio");
  for (const Shape& s : shapes) {
    std::vector<std::vector<float>> A, B, C;
    for (int t = 0; t < threads; ++t) {
      A.push_back(random(s.M * s.K));
      B.push_back(random(s.K * s.N));
      C.emplace_back(static_cast<std::size_t>(s.M * s.N));
    }
    Eigen::setNbThreads(1);
    const double ours = median_seconds(reps, [&] {
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num();
        cpu::fast::sgemm(false, false, s.M, s.N, s.K, A[t].data(), s.K, B[t].data(), s.N, C[t].data(), s.N, false);
      }
    });
    const double eigen = median_seconds(reps, [&] {
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num();
        EigenView(C[t].data(), s.M, s.N, Eigen::OuterStride<>(s.N)).noalias() =
            ConstEigenView(A[t].data(), s.M, s.K, Eigen::OuterStride<>(s.K)) *
            ConstEigenView(B[t].data(), s.K, s.N, Eigen::OuterStride<>(s.N));
      }
    });
    const double work = double(threads);
    std::printf("%-30s %5ld %6ld %5ld %10.1f %10.1f %7.2f\n", s.name, long(s.M), long(s.N), long(s.K),
                work * gflops(s.M, s.N, s.K, ours), work * gflops(s.M, s.N, s.K, eigen), eigen / ours);
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
  app.add_option("--part", part, "ops, nets, all (ops and nets), gemm or algorithms")
      ->check(CLI::IsMember({"ops", "nets", "all", "gemm", "algorithms"}));
  app.add_option("--impl", impl_name, "ref, fast or vendor (Eigen's GEMM for conv and linear)")
      ->check(CLI::IsMember({"ref", "fast", "vendor"}));
  app.add_option("--net", only, "only this net: nosenet, facenet or resnet18");
  app.add_option("--clock", clock, "wall (default) or cpu (process CPU time)")->check(CLI::IsMember({"wall", "cpu"}));
  app.set_version_flag("--version", keynet::version_line("bench_cpu"));
  CLI11_PARSE(app, argc, argv);
  try {
    set_cpu_threads(threads);
    use_cpu_clock = clock == "cpu";
    const Impl impl = parse_impl(impl_name);
    std::printf("bench_cpu: impl=%s threads=%d reps=%d clock=%s\n", to_string(impl), threads, reps, clock.c_str());
    if (part == "gemm") {
      bench_gemm(reps, threads);
      return 0;
    }
    if (part == "algorithms") {
      bench_conv_algorithms(reps);
      return 0;
    }
    if (part != "nets") bench_ops(reps, impl);
    if (part != "ops") bench_nets(reps, impl, only);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cpu: %s\n", e.what());
    return 1;
  }
  return 0;
}
