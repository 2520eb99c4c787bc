// Every op on the GPU against the CPU reference (kernels/cpu/ref, run in double as the oracle):
// CUDA naive (Impl::Ref), CUDA tiled (Impl::Fast) and cuDNN/cuBLAS (Impl::Vendor), forward and
// backward, on loops of random shapes (strides 1/2, paddings 0..3, odd sizes, kernels 1/3/5/7,
// batch 1..32). Input gradients start as NaN (they must be overwritten), parameter gradients as 0.5
// (they must be added to). Shapes too large for the CPU oracle use the CUDA naive kernels, checked
// against the CPU just before, as their oracle. Every comparison prints a line; the largest error per
// op and impl is tabled at the end.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cuda/fast_divisor.h"
#include "kernels/ops.h"
#include "tensor/cuda_memory.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"
#include "tests/gpu/parity.h"

namespace keynet {
namespace {

using gpu_test::compare;
using gpu_test::filled;
constexpr Device GPU = Device::CUDA;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// float32 kernels against the float64 oracle, error relative to the tensor's largest magnitude
constexpr double kTol = 1e-4;
// cuDNN's heuristics pick FFT and Winograd convolutions, whose float32 rounding is larger: on the
// H200 the FFT filter gradient of a 5x5 conv (N=4, C=12, K=24, 30x40) was off by 2.3e-3 of scale
constexpr double kVendorConvTol = 5e-3;

int pick(Rng& rng, int lo, int hi) { return lo + static_cast<int>(rng.below(static_cast<uint64_t>(hi - lo + 1))); }

Tensor f64(const Tensor& t) { return t.to(DType::F64); }

std::string describe(const ops::ConvDesc& d, bool bias) {
  char text[160];
  std::snprintf(text, sizeof text, "N=%d C=%d H=%d W=%d K=%d R=%d S=%d stride=%d pad=%d%s", d.N, d.C, d.H, d.W, d.K,
                d.R, d.S, d.stride, d.pad, bias ? " bias" : "");
  return text;
}

// ------------------------------------------------------------------------------------------ conv
TEST_CASE("FastDivisor (the implicit-GEMM loaders' division) equals integer division") {
  Rng rng(8);
  long wrong = 0;
  auto check = [&](int divisor, int n) {
    const cuda::FastDivisor fast(divisor);
    int q, r;
    fast.divmod(n, q, r);
    if (q != n / divisor || r != n % divisor) {
      if (++wrong <= 5) std::printf("FAIL FastDivisor(%d).divmod(%d) = %d, %d\n", divisor, n, q, r);
    }
  };
  for (int divisor = 1; divisor <= 5000; ++divisor) {
    for (int n = 0; n < 600; ++n) check(divisor, n);
    for (int i = 0; i < 40; ++i) check(divisor, static_cast<int>(rng.below(1u << 31)));
    check(divisor, 2147483647);
  }
  for (int i = 0; i < 200000; ++i)
    check(1 + static_cast<int>(rng.below((1u << 31) - 1)), static_cast<int>(rng.below(1u << 31)));
  CHECK(wrong == 0);
}

// One convolution shape through every CUDA implementation. With cpu_oracle the oracle is the CPU
// reference in double; otherwise the CUDA naive kernels (then only Fast and Vendor are compared).
void check_conv(const ops::ConvDesc& d, bool with_bias, bool with_dinp, bool cpu_oracle, Rng& rng) {
  const std::string shape = describe(d, with_bias) + (with_dinp ? "" : " no-dinp");
  const Shape in_shape{d.N, d.C, d.H, d.W}, w_shape{d.K, d.C, d.R, d.S}, out_shape{d.N, d.K, d.P(), d.Q()};
  const Tensor inp = Tensor::uniform(in_shape, rng, -1, 1);
  const Tensor weight = Tensor::uniform(w_shape, rng, -0.5, 0.5);
  const Tensor bias = Tensor::uniform({d.K}, rng, -1, 1);
  const Tensor dout = Tensor::uniform(out_shape, rng, -1, 1);

  // oracle
  const Device od = cpu_oracle ? Device::CPU : GPU;
  auto oracle_tensor = [&](const Tensor& t) { return cpu_oracle ? f64(t) : t.to(GPU); };
  const Tensor o_inp = oracle_tensor(inp), o_weight = oracle_tensor(weight), o_bias = oracle_tensor(bias),
               o_dout = oracle_tensor(dout);
  const DType odt = cpu_oracle ? DType::F64 : DType::F32;
  Tensor o_out = Tensor::zeros(out_shape, od, odt), o_dinp = Tensor::zeros(in_shape, od, odt);
  Tensor o_dweight = Tensor::full(w_shape, 0.5, odt).to(od), o_dbias = Tensor::full({d.K}, 0.5, odt).to(od);
  ops::conv2d_forward(o_out, o_inp, o_weight, with_bias ? &o_bias : nullptr, d, Impl::Ref);
  ops::conv2d_backward(with_dinp ? &o_dinp : nullptr, o_dweight, with_bias ? &o_dbias : nullptr, o_dout, o_inp,
                       o_weight, d, Impl::Ref);

  const Tensor g_inp = inp.to(GPU), g_weight = weight.to(GPU), g_bias = bias.to(GPU), g_dout = dout.to(GPU);
  for (Impl impl : gpu_test::cuda_impls()) {
    if (!cpu_oracle && impl == Impl::Ref) continue;
    const double tol = impl == Impl::Vendor ? kVendorConvTol : kTol;
    gpu_test::guarded("conv2d_forward", impl, shape, [&] {
      Tensor out = filled(out_shape, kNaN, GPU);
      ops::conv2d_forward(out, g_inp, g_weight, with_bias ? &g_bias : nullptr, d, impl);
      compare("conv2d_forward", impl, shape, out, o_out, tol);
    });
    gpu_test::guarded("conv2d_backward", impl, shape, [&] {
      Tensor dinp = filled(in_shape, kNaN, GPU), dweight = filled(w_shape, 0.5, GPU), dbias = filled({d.K}, 0.5, GPU);
      ops::conv2d_backward(with_dinp ? &dinp : nullptr, dweight, with_bias ? &dbias : nullptr, g_dout, g_inp,
                           g_weight, d, impl);
      if (with_dinp) compare("conv2d_backward.dinp", impl, shape, dinp, o_dinp, tol);
      compare("conv2d_backward.dweight", impl, shape, dweight, o_dweight, tol);
      if (with_bias) compare("conv2d_backward.dbias", impl, shape, dbias, o_dbias, tol);
    });
  }
}

TEST_CASE("conv2d: random shapes against the CPU reference") {
  Rng rng(2024);
  const int kernels[] = {1, 3, 5, 7};
  int done = 0;
  while (done < 40) {
    ops::ConvDesc d;
    d.R = d.S = kernels[rng.below(4)];
    d.stride = pick(rng, 1, 2);
    d.pad = pick(rng, 0, std::min(3, d.R));
    d.N = pick(rng, 1, 32);
    d.C = pick(rng, 1, 12);
    d.K = pick(rng, 1, 12);
    d.H = pick(rng, std::max(1, d.R - 2 * d.pad), 23);
    d.W = pick(rng, std::max(1, d.S - 2 * d.pad), 23);
    if (d.P() <= 0 || d.Q() <= 0 || d.flops_forward() > 6e6) continue;  // keep the double oracle quick
    check_conv(d, rng.below(2) == 0, done % 7 != 3, true, rng);
    ++done;
  }
}

TEST_CASE("conv2d: network shapes (stem, 3x3, strided 1x1) against the CPU reference") {
  Rng rng(7);
  check_conv({.N = 2, .C = 1, .H = 40, .W = 36, .K = 8, .R = 7, .S = 7, .stride = 2, .pad = 3}, false, false, true,
             rng);
  check_conv({.N = 2, .C = 32, .H = 14, .W = 14, .K = 32, .R = 3, .S = 3, .stride = 1, .pad = 1}, false, true, true,
             rng);
  check_conv({.N = 3, .C = 16, .H = 15, .W = 15, .K = 32, .R = 1, .S = 1, .stride = 2, .pad = 0}, false, true, true,
             rng);
  check_conv({.N = 4, .C = 12, .H = 30, .W = 40, .K = 24, .R = 5, .S = 5, .stride = 1, .pad = 2}, true, true, true,
             rng);
}

TEST_CASE("conv2d: large shapes (128x128 tiles, split-K) against the CUDA naive kernels") {
  Rng rng(11);
  // 256 output channels x 16*32*32 positions: enough tiles for the 128x128 configuration
  check_conv({.N = 16, .C = 64, .H = 32, .W = 32, .K = 256, .R = 3, .S = 3, .stride = 1, .pad = 1}, false, true,
             false, rng);
  // weight gradient over 64*28*28 positions with a small weight: split-K
  check_conv({.N = 64, .C = 16, .H = 28, .W = 28, .K = 16, .R = 3, .S = 3, .stride = 1, .pad = 1}, true, true, false,
             rng);
  // strided 3x3 with a long data-gradient k
  check_conv({.N = 8, .C = 128, .H = 14, .W = 14, .K = 256, .R = 3, .S = 3, .stride = 2, .pad = 1}, false, true,
             false, rng);
}

TEST_CASE("conv2d fast path is bitwise repeatable") {
  Rng rng(5);
  // the second shape (few output tiles, long sums) has every GEMM split along k on a large device
  const ops::ConvDesc shapes[] = {{.N = 32, .C = 16, .H = 20, .W = 20, .K = 24, .R = 3, .S = 3, .stride = 1, .pad = 1},
                                  {.N = 8, .C = 128, .H = 14, .W = 14, .K = 64, .R = 3, .S = 3, .stride = 1, .pad = 1}};
  for (const ops::ConvDesc& d : shapes) {
    const Tensor inp = Tensor::uniform({d.N, d.C, d.H, d.W}, rng, -1, 1).to(GPU);
    const Tensor weight = Tensor::uniform({d.K, d.C, d.R, d.S}, rng, -1, 1).to(GPU);
    const Tensor bias = Tensor::uniform({d.K}, rng, -1, 1).to(GPU);
    const Tensor dout = Tensor::uniform({d.N, d.K, d.P(), d.Q()}, rng, -1, 1).to(GPU);
    for (Impl impl : gpu_test::cuda_impls()) {
      std::vector<Tensor> results;
      for (int run = 0; run < 2; ++run) {
        Tensor out = Tensor::zeros({d.N, d.K, d.P(), d.Q()}, GPU), dinp = Tensor::zeros({d.N, d.C, d.H, d.W}, GPU);
        Tensor dweight = Tensor::zeros({d.K, d.C, d.R, d.S}, GPU), dbias = Tensor::zeros({d.K}, GPU);
        ops::conv2d_forward(out, inp, weight, &bias, d, impl);
        ops::conv2d_backward(&dinp, dweight, &dbias, dout, inp, weight, d, impl);
        for (const Tensor& t : {out, dinp, dweight, dbias}) results.push_back(t);
      }
      const char* names[] = {"out", "dinp", "dweight", "dbias"};
      for (int i = 0; i < 4; ++i) {
        const bool same = gpu_test::bitwise_equal(results[i], results[4 + i]);
        std::printf("%-8s conv2d determinism %-7s %-6s %s\n", same ? "ok" : "DIFFERS", names[i], to_string(impl),
                    describe(d, true).c_str());
        if (impl == Impl::Vendor)
          WARN_MESSAGE(same, "cuDNN conv2d ", names[i], " differs between two identical runs");
        else
          CHECK_MESSAGE(same, "conv2d ", names[i], " impl=", to_string(impl), " differs between two identical runs");
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ linear
void check_linear(int N, int I, int O, bool with_bias, bool cpu_oracle, Rng& rng) {
  char shape[96];
  std::snprintf(shape, sizeof shape, "N=%d I=%d O=%d%s", N, I, O, with_bias ? " bias" : "");
  const Tensor inp = Tensor::uniform({N, I}, rng, -1, 1), weight = Tensor::uniform({O, I}, rng, -0.5, 0.5);
  const Tensor bias = Tensor::uniform({O}, rng, -1, 1), dout = Tensor::uniform({N, O}, rng, -1, 1);
  const Device od = cpu_oracle ? Device::CPU : GPU;
  const DType odt = cpu_oracle ? DType::F64 : DType::F32;
  auto oracle_tensor = [&](const Tensor& t) { return cpu_oracle ? f64(t) : t.to(GPU); };
  const Tensor o_inp = oracle_tensor(inp), o_weight = oracle_tensor(weight), o_bias = oracle_tensor(bias),
               o_dout = oracle_tensor(dout);
  Tensor o_out = Tensor::zeros({N, O}, od, odt), o_dinp = Tensor::zeros({N, I}, od, odt);
  Tensor o_dweight = Tensor::full({O, I}, 0.5, odt).to(od), o_dbias = Tensor::full({O}, 0.5, odt).to(od);
  ops::linear_forward(o_out, o_inp, o_weight, with_bias ? &o_bias : nullptr, Impl::Ref);
  ops::linear_backward(&o_dinp, o_dweight, with_bias ? &o_dbias : nullptr, o_dout, o_inp, o_weight, Impl::Ref);

  const Tensor g_inp = inp.to(GPU), g_weight = weight.to(GPU), g_bias = bias.to(GPU), g_dout = dout.to(GPU);
  for (Impl impl : gpu_test::cuda_impls()) {
    if (!cpu_oracle && impl == Impl::Ref) continue;
    gpu_test::guarded("linear", impl, shape, [&] {
      Tensor out = filled({N, O}, kNaN, GPU);
      ops::linear_forward(out, g_inp, g_weight, with_bias ? &g_bias : nullptr, impl);
      compare("linear_forward", impl, shape, out, o_out, kTol);
      Tensor dinp = filled({N, I}, kNaN, GPU), dweight = filled({O, I}, 0.5, GPU), dbias = filled({O}, 0.5, GPU);
      ops::linear_backward(&dinp, dweight, with_bias ? &dbias : nullptr, g_dout, g_inp, g_weight, impl);
      compare("linear_backward.dinp", impl, shape, dinp, o_dinp, kTol);
      compare("linear_backward.dweight", impl, shape, dweight, o_dweight, kTol);
      if (with_bias) compare("linear_backward.dbias", impl, shape, dbias, o_dbias, kTol);
    });
  }
}

TEST_CASE("linear: random shapes against the CPU reference") {
  Rng rng(99);
  for (int i = 0; i < 25; ++i) check_linear(pick(rng, 1, 64), pick(rng, 1, 300), pick(rng, 1, 200), i % 3 != 0, true, rng);
  check_linear(64, 1152, 128, true, true, rng);  // NoseNet-sized head
  check_linear(256, 512, 512, true, true, rng);  // enough tiles for 128x128
  check_linear(32, 4096, 512, true, false, rng);
}

// ------------------------------------------------------------------------------------------ max pool
// Inputs without ties (a shuffled ramp plus noise), so every window's winner is unambiguous.
Tensor distinct_values(const Shape& shape, Rng& rng) {
  const int64_t n = numel(shape);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(-1.0 + 2.0 * i / n);
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[rng.below(i + 1)]);
  return Tensor::from_vector(shape, v);
}

TEST_CASE("max_pool2d: random shapes against the CPU reference, padding never wins") {
  Rng rng(3);
  for (int i = 0; i < 40; ++i) {
    ops::PoolDesc d;
    d.kernel = pick(rng, 1, 5);
    d.stride = pick(rng, 1, 3);
    d.pad = pick(rng, 0, d.kernel / 2);
    d.N = pick(rng, 1, 16);
    d.C = pick(rng, 1, 8);
    d.H = pick(rng, std::max(1, d.kernel - 2 * d.pad), 25);
    d.W = pick(rng, std::max(1, d.kernel - 2 * d.pad), 25);
    if (i == 0) d = {.N = 2, .C = 3, .H = 7, .W = 9, .kernel = 3, .stride = 2, .pad = 1};  // ResNet's stem pool
    if (d.P() <= 0 || d.Q() <= 0) continue;
    char shape[128];
    std::snprintf(shape, sizeof shape, "N=%d C=%d H=%d W=%d kernel=%d stride=%d pad=%d", d.N, d.C, d.H, d.W, d.kernel,
                  d.stride, d.pad);
    const Shape in_shape{d.N, d.C, d.H, d.W}, out_shape{d.N, d.C, d.P(), d.Q()};
    const Tensor inp = distinct_values(in_shape, rng), dout = Tensor::uniform(out_shape, rng, -1, 1);
    Tensor o_out = Tensor::zeros(out_shape, Device::CPU, DType::F64), o_dinp = Tensor::zeros(in_shape, Device::CPU, DType::F64);
    ops::max_pool2d_forward(o_out, f64(inp), d, Impl::Ref);
    ops::max_pool2d_backward(o_dinp, f64(dout), f64(inp), o_out, d, Impl::Ref);
    const Tensor g_inp = inp.to(GPU), g_dout = dout.to(GPU);
    for (Impl impl : gpu_test::cuda_impls()) {
      gpu_test::guarded("max_pool2d", impl, shape, [&] {
        Tensor out = filled(out_shape, kNaN, GPU), dinp = filled(in_shape, kNaN, GPU);
        ops::max_pool2d_forward(out, g_inp, d, impl);
        compare("max_pool2d_forward", impl, shape, out, o_out, 0.0);
        ops::max_pool2d_backward(dinp, g_dout, g_inp, out, d, impl);
        compare("max_pool2d_backward", impl, shape, dinp, o_dinp, 1e-6);
      });
    }
  }
}

// ------------------------------------------------------------------------------------------ relu, add, gap
TEST_CASE("relu, add and global average pool against the CPU reference") {
  Rng rng(17);
  for (int i = 0; i < 8; ++i) {
    const Shape shape{pick(rng, 1, 16), pick(rng, 1, 32), pick(rng, 1, 17), pick(rng, 1, 17)};
    const std::string text = to_string(shape);
    // ReLU inputs kept away from 0: the reference's out > 0 test must not sit on a rounding edge
    std::vector<float> values(numel(shape));
    for (float& v : values) v = static_cast<float>((rng.below(2) ? 1 : -1) * rng.uniform(0.01, 1.0));
    const Tensor x = Tensor::from_vector(shape, values), y = Tensor::uniform(shape, rng, -1, 1);
    const Tensor dout = Tensor::uniform(shape, rng, -1, 1);
    Tensor o_relu = Tensor::zeros(shape, Device::CPU, DType::F64), o_drelu = Tensor::zeros(shape, Device::CPU, DType::F64);
    Tensor o_sum = Tensor::zeros(shape, Device::CPU, DType::F64);
    Tensor o_gap = Tensor::zeros({shape[0], shape[1]}, Device::CPU, DType::F64), o_dgap = Tensor::zeros(shape, Device::CPU, DType::F64);
    const Tensor gap_dout = Tensor::uniform({shape[0], shape[1]}, rng, -1, 1);
    ops::relu_forward(o_relu, f64(x), Impl::Ref);
    ops::relu_backward(o_drelu, f64(dout), o_relu, Impl::Ref);
    ops::add(o_sum, f64(x), f64(y), Impl::Ref);
    ops::global_avg_pool_forward(o_gap, f64(y), Impl::Ref);
    ops::global_avg_pool_backward(o_dgap, f64(gap_dout), Impl::Ref);
    const Tensor gx = x.to(GPU), gy = y.to(GPU), gdout = dout.to(GPU), ggap_dout = gap_dout.to(GPU);
    for (Impl impl : gpu_test::cuda_impls()) {
      Tensor relu = filled(shape, kNaN, GPU), drelu = filled(shape, kNaN, GPU), sum = filled(shape, kNaN, GPU);
      Tensor gap = filled({shape[0], shape[1]}, kNaN, GPU), dgap = filled(shape, kNaN, GPU);
      ops::relu_forward(relu, gx, impl);
      compare("relu_forward", impl, text, relu, o_relu, 0.0);
      ops::relu_backward(drelu, gdout, relu, impl);
      compare("relu_backward", impl, text, drelu, o_drelu, 0.0);
      ops::add(sum, gx, gy, impl);
      compare("add", impl, text, sum, o_sum, 1e-7);
      Tensor in_place = gx.clone();
      ops::add(in_place, in_place, gy, impl);
      compare("add.in_place", impl, text, in_place, o_sum, 1e-7);
      ops::global_avg_pool_forward(gap, gy, impl);
      compare("global_avg_pool_forward", impl, text, gap, o_gap, kTol);
      ops::global_avg_pool_backward(dgap, ggap_dout, impl);
      compare("global_avg_pool_backward", impl, text, dgap, o_dgap, 1e-6);
    }
  }
}

// ------------------------------------------------------------------------------------------ batch norm
void check_batch_norm(int N, int C, int H, int W, Rng& rng) {
  char shape[96];
  std::snprintf(shape, sizeof shape, "N=%d C=%d H=%d W=%d", N, C, H, W);
  const ops::BatchNormDesc d{.N = N, .C = C, .HW = H * W};
  const Shape x_shape{N, C, H, W};
  Tensor x = Tensor::uniform(x_shape, rng, -2, 3);
  const Tensor gamma = Tensor::uniform({C}, rng, 0.5, 1.5), beta = Tensor::uniform({C}, rng, -0.5, 0.5);
  const Tensor running_mean = Tensor::uniform({C}, rng, -0.2, 0.2), running_var = Tensor::uniform({C}, rng, 0.5, 2);
  const Tensor dout = Tensor::uniform(x_shape, rng, -1, 1);

  auto zeros64 = [](const Shape& s) { return Tensor::zeros(s, Device::CPU, DType::F64); };
  Tensor o_out = zeros64(x_shape), o_mean = zeros64({C}), o_invstd = zeros64({C});
  Tensor o_rmean = f64(running_mean), o_rvar = f64(running_var), o_eval = zeros64(x_shape), o_dinp = zeros64(x_shape);
  Tensor o_dgamma = Tensor::full({C}, 0.5, DType::F64), o_dbeta = Tensor::full({C}, 0.5, DType::F64);
  ops::batch_norm2d_forward_train(o_out, o_mean, o_invstd, o_rmean, o_rvar, f64(x), f64(gamma), f64(beta), d, Impl::Ref);
  ops::batch_norm2d_forward_eval(o_eval, f64(x), f64(gamma), f64(beta), o_rmean, o_rvar, d, Impl::Ref);
  ops::batch_norm2d_backward(o_dinp, o_dgamma, o_dbeta, f64(dout), f64(x), f64(gamma), o_mean, o_invstd, d, Impl::Ref);

  const Tensor gx = x.to(GPU), ggamma = gamma.to(GPU), gbeta = beta.to(GPU), gdout = dout.to(GPU);
  for (Impl impl : gpu_test::cuda_impls()) {
    gpu_test::guarded("batch_norm2d", impl, shape, [&] {
      Tensor out = filled(x_shape, kNaN, GPU), mean = filled({C}, kNaN, GPU), invstd = filled({C}, kNaN, GPU);
      Tensor rmean = running_mean.to(GPU), rvar = running_var.to(GPU);
      ops::batch_norm2d_forward_train(out, mean, invstd, rmean, rvar, gx, ggamma, gbeta, d, impl);
      compare("batch_norm2d_train.out", impl, shape, out, o_out, kTol);
      compare("batch_norm2d_train.save_mean", impl, shape, mean, o_mean, kTol);
      compare("batch_norm2d_train.save_invstd", impl, shape, invstd, o_invstd, kTol);
      compare("batch_norm2d_train.running_mean", impl, shape, rmean, o_rmean, kTol);
      compare("batch_norm2d_train.running_var", impl, shape, rvar, o_rvar, kTol);
      Tensor eval = filled(x_shape, kNaN, GPU);
      ops::batch_norm2d_forward_eval(eval, gx, ggamma, gbeta, rmean, rvar, d, impl);
      compare("batch_norm2d_eval", impl, shape, eval, o_eval, kTol);
      // backward from the oracle's saved statistics, so that it is checked on its own
      const Tensor o_mean32 = o_mean.to(DType::F32).to(GPU), o_invstd32 = o_invstd.to(DType::F32).to(GPU);
      Tensor dinp = filled(x_shape, kNaN, GPU), dgamma = filled({C}, 0.5, GPU), dbeta = filled({C}, 0.5, GPU);
      ops::batch_norm2d_backward(dinp, dgamma, dbeta, gdout, gx, ggamma, o_mean32, o_invstd32, d, impl);
      compare("batch_norm2d_backward.dinp", impl, shape, dinp, o_dinp, 5e-4);
      compare("batch_norm2d_backward.dgamma", impl, shape, dgamma, o_dgamma, kTol);
      compare("batch_norm2d_backward.dbeta", impl, shape, dbeta, o_dbeta, kTol);
    });
  }
}

TEST_CASE("batch_norm2d: random shapes against the CPU reference") {
  Rng rng(23);
  for (int i = 0; i < 12; ++i) {
    const int N = pick(rng, 1, 32), C = pick(rng, 1, 16), H = pick(rng, 1, 15), W = pick(rng, 1, 15);
    if (N * H * W < 2) continue;  // one value per channel has no variance
    check_batch_norm(N, C, H, W, rng);
  }
  check_batch_norm(8, 4, 64, 64, rng);  // several chunks per channel in the fast path
  check_batch_norm(32, 64, 7, 7, rng);  // ResNet's last stage
}

// ------------------------------------------------------------------------------------------ losses
TEST_CASE("mse and l1 losses against the CPU reference") {
  Rng rng(31);
  for (int64_t n : {1L, 7L, 136L, 64L * 136, 300001L}) {
    const std::string shape = "n=" + std::to_string(n);
    const Tensor pred = Tensor::uniform({n}, rng, -1, 1), target = Tensor::uniform({n}, rng, -1, 1);
    const Tensor gp = pred.to(GPU), gt = target.to(GPU);
    for (const char* loss : {"mse", "l1"}) {
      const bool mse = std::string(loss) == "mse";
      Tensor o_loss = Tensor::zeros({1}, Device::CPU, DType::F64), o_dpred = Tensor::zeros({n}, Device::CPU, DType::F64);
      if (mse) {
        ops::mse_loss_forward(o_loss, f64(pred), f64(target), Impl::Ref);
        ops::mse_loss_backward(o_dpred, f64(pred), f64(target), 0.7, Impl::Ref);
      } else {
        ops::l1_loss_forward(o_loss, f64(pred), f64(target), Impl::Ref);
        ops::l1_loss_backward(o_dpred, f64(pred), f64(target), 0.7, Impl::Ref);
      }
      for (Impl impl : gpu_test::cuda_impls()) {
        Tensor value = filled({1}, kNaN, GPU), dpred = filled({n}, kNaN, GPU);
        if (mse) {
          ops::mse_loss_forward(value, gp, gt, impl);
          ops::mse_loss_backward(dpred, gp, gt, 0.7, impl);
        } else {
          ops::l1_loss_forward(value, gp, gt, impl);
          ops::l1_loss_backward(dpred, gp, gt, 0.7, impl);
        }
        // a serial float32 sum of 3e5 terms (the naive kernel, like the CPU's float loop) drifts by ~1e-4
        compare(std::string(loss) + "_loss_forward", impl, shape, value, o_loss, 5e-4);
        compare(std::string(loss) + "_loss_backward", impl, shape, dpred, o_dpred, 1e-6);
        Tensor again = Tensor::zeros({1}, GPU);
        mse ? ops::mse_loss_forward(again, gp, gt, impl) : ops::l1_loss_forward(again, gp, gt, impl);
        CHECK_MESSAGE(gpu_test::bitwise_equal(value, again), loss, " loss impl=", to_string(impl), " not repeatable");
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ optimizers
TEST_CASE("adam and sgd on the GPU follow the CPU over several steps") {
  Rng rng(41);
  const int64_t n = 10007;
  struct AdamCase {
    const char* name;
    double weight_decay;
    bool decoupled;
  };
  for (const AdamCase& c : {AdamCase{"adam", 0.0, false}, AdamCase{"adam+l2", 0.01, false}, AdamCase{"adamw", 0.05, true}}) {
    const Tensor param0 = Tensor::uniform({n}, rng, -1, 1);
    Tensor o_param = f64(param0), o_m = Tensor::zeros({n}, Device::CPU, DType::F64), o_v = Tensor::zeros({n}, Device::CPU, DType::F64);
    for (Impl impl : gpu_test::cuda_impls()) {
      Rng grads(77);  // the same gradients for every impl
      Tensor oracle_param = o_param.clone(), oracle_m = o_m.clone(), oracle_v = o_v.clone();
      Tensor param = param0.to(GPU), m = Tensor::zeros({n}, GPU), v = Tensor::zeros({n}, GPU);
      for (int step = 1; step <= 5; ++step) {
        const Tensor grad = Tensor::uniform({n}, grads, -1, 1);
        const ops::AdamDesc d{.lr = 1e-2, .weight_decay = c.weight_decay, .decoupled_weight_decay = c.decoupled, .step = step};
        ops::adam_update(oracle_param, f64(grad), oracle_m, oracle_v, d, Impl::Ref);
        ops::adam_update(param, grad.to(GPU), m, v, d, impl);
        const std::string shape = std::string(c.name) + " step " + std::to_string(step);
        compare("adam.param", impl, shape, param, oracle_param, 1e-6);
        compare("adam.m", impl, shape, m, oracle_m, 1e-6);
        compare("adam.v", impl, shape, v, oracle_v, 1e-6);
      }
    }
  }
  struct SgdCase {
    const char* name;
    double momentum, dampening, weight_decay;
    bool nesterov;
  };
  for (const SgdCase& c : {SgdCase{"sgd", 0.0, 0.0, 0.0, false}, SgdCase{"momentum", 0.9, 0.1, 1e-3, false},
                           SgdCase{"nesterov", 0.9, 0.0, 1e-3, true}}) {
    const Tensor param0 = Tensor::uniform({n}, rng, -1, 1);
    for (Impl impl : gpu_test::cuda_impls()) {
      Rng grads(78);
      Tensor oracle_param = f64(param0), oracle_buf = Tensor::zeros({n}, Device::CPU, DType::F64);
      Tensor param = param0.to(GPU), buf = Tensor::zeros({n}, GPU);
      for (int step = 1; step <= 5; ++step) {
        const Tensor grad = Tensor::uniform({n}, grads, -1, 1);
        const ops::SgdDesc d{.lr = 0.05, .momentum = c.momentum, .dampening = c.dampening,
                             .weight_decay = c.weight_decay, .nesterov = c.nesterov, .first_step = step == 1};
        ops::sgd_update(oracle_param, f64(grad), oracle_buf, d, Impl::Ref);
        ops::sgd_update(param, grad.to(GPU), buf, d, impl);
        const std::string shape = std::string(c.name) + " step " + std::to_string(step);
        compare("sgd.param", impl, shape, param, oracle_param, 1e-6);
        if (c.momentum != 0.0) compare("sgd.momentum_buffer", impl, shape, buf, oracle_buf, 1e-6);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ errors
TEST_CASE("bad arguments on the GPU are keynet::Errors") {
  const Tensor inp = Tensor::zeros({2, 3, 8, 8}, GPU), weight = Tensor::zeros({4, 3, 3, 3}, GPU);
  Tensor out = Tensor::zeros({2, 4, 6, 6}, GPU);
  const ops::ConvDesc wrong{.N = 2, .C = 5, .H = 8, .W = 8, .K = 4, .R = 3, .S = 3};
  for (Impl impl : gpu_test::cuda_impls()) CHECK_THROWS_AS(ops::conv2d_forward(out, inp, weight, nullptr, wrong, impl), Error);
  const Tensor cpu_weight = Tensor::zeros({4, 3, 3, 3});
  const ops::ConvDesc right{.N = 2, .C = 3, .H = 8, .W = 8, .K = 4, .R = 3, .S = 3};
  CHECK_THROWS_AS(ops::conv2d_forward(out, inp, cpu_weight, nullptr, right, Impl::Fast), Error);
#ifndef KEYNET_WITH_CUDNN
  // a CUDA build without cuDNN: the vendor path says what is missing instead of running something else
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(out, inp, weight, nullptr, right, Impl::Vendor),
                       doctest::Contains("built without cuDNN"), Error);
#endif
}

TEST_CASE("zz: largest error per op and impl") {
  gpu_test::print_worst_errors();
  CHECK(!gpu_test::worst_errors().empty());
}

}  // namespace
}  // namespace keynet
