// Parity of the fast CPU kernels with the reference kernels: the same seeded float32 inputs go through
// ops::*(..., Impl::Ref) and ops::*(..., Impl::Fast) on loops of random shapes, forward and backward.
// Parameter gradients are pre-filled with the same non-zero sentinel on both sides (proves +=), input
// gradients of the fast path with NaN (proves every element is overwritten). NaN or Inf anywhere fails.
// Tolerance: |fast - ref| <= kRelTol * (1 + max|ref|) per tensor.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

using namespace keynet;


namespace {

constexpr double kRelTol = 1e-4;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Comparison {
  bool ok = true;
  double error = 0;  // max |fast - ref| / (1 + max|ref|)
  std::string problem;
};

// The comparison every check below goes through (and which is itself tested to fail on bad data).
Comparison compare(const Tensor& fast, const Tensor& ref, double rel_tol = kRelTol) {
  Comparison result;
  if (fast.shape() != ref.shape()) {
    result.ok = false;
    result.problem = "shape " + to_string(fast.shape()) + " vs " + to_string(ref.shape());
    return result;
  }
  const std::vector<float> a = fast.to_float_vector(), b = ref.to_float_vector();
  double scale = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      result.ok = false;
      result.error = std::numeric_limits<double>::infinity();
      result.problem = "non-finite value at " + std::to_string(i) + ": fast " + std::to_string(a[i]) + ", ref " +
                       std::to_string(b[i]);
      return result;
    }
    scale = std::max(scale, std::abs(double(b[i])));
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double error = std::abs(double(a[i]) - double(b[i])) / (1 + scale);
    if (error > result.error) result.error = error;
    if (error > rel_tol && result.ok) {
      result.ok = false;
      result.problem = "element " + std::to_string(i) + ": fast " + std::to_string(a[i]) + ", ref " +
                       std::to_string(b[i]);
    }
  }
  return result;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

// Largest relative error seen per op, reported at the end of each test case.
std::map<std::string, double>& worst_errors() {
  static std::map<std::string, double> errors;
  return errors;
}

void expect_close(const std::string& what, const Tensor& fast, const Tensor& ref, const std::string& context) {
  const Comparison c = compare(fast, ref);
  double& worst = worst_errors()[what];
  worst = std::max(worst, c.error);
  INFO(what, " ", context, ": ", c.problem);
  CHECK(c.ok);
}

void report(const std::string& prefix) {
  for (const auto& [op, error] : worst_errors())
    if (op.rfind(prefix, 0) == 0) MESSAGE(op, ": largest relative error ", error, " (tolerance ", kRelTol, ")");
}

Tensor random(const Shape& shape, Rng& rng, double low = -1, double high = 1) {
  return Tensor::uniform(shape, rng, low, high);
}

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = cpu_threads();
  ~ThreadsGuard() { set_cpu_threads(saved); }
};

struct ConvRun {
  Tensor out, dinp, dweight, dbias;
};

ConvRun run_conv(const Tensor& inp, const Tensor& weight, const Tensor* bias, const Tensor& dout,
                 const ops::ConvDesc& d, Impl impl, bool want_dinp) {
  ConvRun run;
  run.out = Tensor::full({d.N, d.K, d.P(), d.Q()}, kNaN);
  ops::conv2d_forward(run.out, inp, weight, bias, d, impl);
  run.dinp = Tensor::full(inp.shape(), impl == Impl::Fast ? kNaN : 0.0);
  run.dweight = Tensor::full(weight.shape(), 0.5);
  run.dbias = Tensor::full({d.K}, -0.25);
  ops::conv2d_backward(want_dinp ? &run.dinp : nullptr, run.dweight, bias ? &run.dbias : nullptr, dout, inp, weight,
                       d, impl);
  return run;
}

ops::ConvDesc random_conv(Rng& rng) {
  static const int kernels[] = {1, 3, 5, 7};
  ops::ConvDesc d;
  d.N = 1 + int(rng.below(8));
  d.C = 1 + int(rng.below(9));
  d.K = 1 + int(rng.below(20));
  d.R = kernels[rng.below(4)];
  d.S = rng.below(4) == 0 ? kernels[rng.below(4)] : d.R;  // mostly square, sometimes not
  d.stride = 1 + int(rng.below(2));
  d.pad = int(rng.below(4));
  const int min_h = std::max(1, d.R - 2 * d.pad), min_w = std::max(1, d.S - 2 * d.pad);
  d.H = min_h + int(rng.below(18));
  d.W = min_w + int(rng.below(18));
  return d;
}

}  // namespace

TEST_CASE("the comparison helper reports mismatches, NaN and Inf") {
  Rng rng(7);
  const Tensor ref = random({3, 4, 5}, rng);
  CHECK(compare(ref.clone(), ref).ok);
  SUBCASE("a perturbation above tolerance fails") {
    Tensor fast = ref.clone();
    fast.set({1, 2, 3}, ref.at({1, 2, 3}) + 10 * kRelTol * 2);
    const Comparison c = compare(fast, ref);
    CHECK_FALSE(c.ok);
    CHECK(c.error > kRelTol);
  }
  SUBCASE("a perturbation below tolerance passes") {
    Tensor fast = ref.clone();
    fast.set({0, 0, 0}, ref.at({0, 0, 0}) + 0.1 * kRelTol);
    CHECK(compare(fast, ref).ok);
  }
  SUBCASE("NaN and Inf fail, on either side") {
    Tensor fast = ref.clone();
    fast.set({2, 3, 4}, kNaN);
    CHECK_FALSE(compare(fast, ref).ok);
    CHECK_FALSE(compare(ref, fast).ok);
    fast.set({2, 3, 4}, std::numeric_limits<double>::infinity());
    CHECK_FALSE(compare(fast, ref).ok);
  }
  SUBCASE("a gradient that overwrites instead of accumulating is caught by the sentinel") {
    ops::ConvDesc d{.N = 2, .C = 3, .H = 6, .W = 5, .K = 4, .R = 3, .S = 3, .stride = 1, .pad = 1};
    const Tensor inp = random({d.N, d.C, d.H, d.W}, rng), weight = random({d.K, d.C, d.R, d.S}, rng);
    const Tensor dout = random({d.N, d.K, d.P(), d.Q()}, rng);
    Tensor accumulated = Tensor::full(weight.shape(), 0.5), overwritten = Tensor::zeros(weight.shape());
    ops::conv2d_backward(nullptr, accumulated, nullptr, dout, inp, weight, d, Impl::Ref);
    ops::conv2d_backward(nullptr, overwritten, nullptr, dout, inp, weight, d, Impl::Fast);
    CHECK_FALSE(compare(overwritten, accumulated).ok);
  }
}

TEST_CASE("conv2d: fast matches reference on random shapes, at 1, 2 and 3 threads") {
  ThreadsGuard guard;
  Rng rng(2024);
  for (int trial = 0; trial < 150; ++trial) {
    ops::ConvDesc d = random_conv(rng);
    if (trial < 4) {  // make sure the 1x1 stride-1 direct path and strided 1x1 are covered
      d.R = d.S = 1;
      d.pad = 0;
      d.stride = trial < 2 ? 1 : 2;
    }
    const bool with_bias = rng.below(3) != 0, want_dinp = rng.below(6) != 0;
    const Tensor inp = random({d.N, d.C, d.H, d.W}, rng), weight = random({d.K, d.C, d.R, d.S}, rng);
    const Tensor bias = random({d.K}, rng), dout = random({d.N, d.K, d.P(), d.Q()}, rng);
    const Tensor* bias_ptr = with_bias ? &bias : nullptr;
    const ConvRun ref = run_conv(inp, weight, bias_ptr, dout, d, Impl::Ref, want_dinp);
    const std::string context = "N=" + std::to_string(d.N) + " C=" + std::to_string(d.C) + " H=" +
                                std::to_string(d.H) + " W=" + std::to_string(d.W) + " K=" + std::to_string(d.K) +
                                " R=" + std::to_string(d.R) + " S=" + std::to_string(d.S) +
                                " stride=" + std::to_string(d.stride) + " pad=" + std::to_string(d.pad) +
                                (with_bias ? " bias" : "") + (want_dinp ? "" : " no-dinp");
    for (int threads : {1, 2, 3}) {
      set_cpu_threads(threads);
      const ConvRun fast = run_conv(inp, weight, bias_ptr, dout, d, Impl::Fast, want_dinp);
      const std::string where = context + " threads=" + std::to_string(threads);
      expect_close("conv2d forward", fast.out, ref.out, where);
      expect_close("conv2d backward dweight", fast.dweight, ref.dweight, where);
      if (with_bias) expect_close("conv2d backward dbias", fast.dbias, ref.dbias, where);
      if (want_dinp) expect_close("conv2d backward dinp", fast.dinp, ref.dinp, where);
      // bias gradient untouched when there is no bias
      if (!with_bias) CHECK(bitwise_equal(fast.dbias, Tensor::full({d.K}, -0.25)));
    }
  }
  report("conv2d");
}

TEST_CASE("conv2d: fast path repeats bit for bit, and thread count changes results only within tolerance") {
  ThreadsGuard guard;
  Rng rng(99);
  // batch below and above the thread count (the two ways work is split), and a 1x1 direct conv
  const std::vector<ops::ConvDesc> shapes = {
      {.N = 1, .C = 16, .H = 23, .W = 19, .K = 24, .R = 3, .S = 3, .stride = 1, .pad = 1},
      {.N = 6, .C = 8, .H = 17, .W = 20, .K = 12, .R = 5, .S = 5, .stride = 2, .pad = 2},
      {.N = 3, .C = 32, .H = 9, .W = 9, .K = 16, .R = 1, .S = 1, .stride = 1, .pad = 0}};
  for (const ops::ConvDesc& d : shapes) {
    const Tensor inp = random({d.N, d.C, d.H, d.W}, rng), weight = random({d.K, d.C, d.R, d.S}, rng);
    const Tensor bias = random({d.K}, rng), dout = random({d.N, d.K, d.P(), d.Q()}, rng);
    set_cpu_threads(1);
    const ConvRun single = run_conv(inp, weight, &bias, dout, d, Impl::Fast, true);
    for (int threads : {2, 4}) {
      set_cpu_threads(threads);
      const ConvRun first = run_conv(inp, weight, &bias, dout, d, Impl::Fast, true);
      const ConvRun second = run_conv(inp, weight, &bias, dout, d, Impl::Fast, true);
      CHECK(bitwise_equal(first.out, second.out));
      CHECK(bitwise_equal(first.dinp, second.dinp));
      CHECK(bitwise_equal(first.dweight, second.dweight));
      CHECK(bitwise_equal(first.dbias, second.dbias));
      const std::string where = "N=" + std::to_string(d.N) + " threads=" + std::to_string(threads) + " vs 1";
      expect_close("conv2d threads forward", first.out, single.out, where);
      expect_close("conv2d threads dinp", first.dinp, single.dinp, where);
      expect_close("conv2d threads dweight", first.dweight, single.dweight, where);
      expect_close("conv2d threads dbias", first.dbias, single.dbias, where);
    }
  }
  report("conv2d threads");
}

TEST_CASE("linear, batch norm and loss reductions repeat bit for bit at a fixed thread count") {
  ThreadsGuard guard;
  set_cpu_threads(3);
  Rng rng(31);
  const int N = 48, I = 700, O = 300;
  const Tensor inp = random({N, I}, rng), weight = random({O, I}, rng), dout = random({N, O}, rng);
  const ops::BatchNormDesc bn{.N = 8, .C = 6, .HW = 900};
  const Shape shape = {bn.N, bn.C, bn.HW, 1};
  const Tensor x = random(shape, rng), dy = random(shape, rng), gamma = random({bn.C}, rng, 0.5, 1.5);
  const Tensor beta = random({bn.C}, rng), target = random(shape, rng);
  auto run = [&] {
    std::vector<Tensor> results;
    Tensor dinp = Tensor::zeros({N, I}), dw = Tensor::zeros({O, I}), db = Tensor::zeros({O});
    ops::linear_backward(&dinp, dw, &db, dout, inp, weight, Impl::Fast);
    Tensor out = Tensor::zeros(shape), mean = Tensor::zeros({bn.C}), invstd = Tensor::zeros({bn.C});
    Tensor rmean = Tensor::zeros({bn.C}), rvar = Tensor::full({bn.C}, 1.0);
    ops::batch_norm2d_forward_train(out, mean, invstd, rmean, rvar, x, gamma, beta, bn, Impl::Fast);
    Tensor dx = Tensor::zeros(shape), dgamma = Tensor::zeros({bn.C}), dbeta = Tensor::zeros({bn.C});
    ops::batch_norm2d_backward(dx, dgamma, dbeta, dy, x, gamma, mean, invstd, bn, Impl::Fast);
    Tensor loss = Tensor::zeros({1});
    ops::mse_loss_forward(loss, x, target, Impl::Fast);
    return std::vector<Tensor>{dinp, dw, db, out, mean, invstd, dx, dgamma, dbeta, loss};
  };
  const std::vector<Tensor> first = run(), second = run();
  for (std::size_t i = 0; i < first.size(); ++i) {
    INFO("result ", i);
    CHECK(bitwise_equal(first[i], second[i]));
  }
}

TEST_CASE("max_pool2d: fast matches reference, including ties (first maximum wins) and padding") {
  ThreadsGuard guard;
  Rng rng(5);
  struct Window {
    int kernel, stride, pad;
  };
  const Window windows[] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 1, 0}, {3, 3, 0}, {4, 2, 2}};
  for (int trial = 0; trial < 48; ++trial) {
    const Window w = windows[trial % 6];
    ops::PoolDesc d{.N = 1 + int(rng.below(3)), .C = 1 + int(rng.below(5)), .H = 0, .W = 0,
                    .kernel = w.kernel, .stride = w.stride, .pad = w.pad};
    d.H = w.kernel + int(rng.below(15));
    d.W = w.kernel + int(rng.below(15));
    set_cpu_threads(1 + trial % 3);
    Tensor inp = random({d.N, d.C, d.H, d.W}, rng);
    if ((trial / 6) % 2) {  // few distinct values, so windows have ties
      float* x = inp.data<float>();
      for (int64_t i = 0; i < inp.numel(); ++i) x[i] = std::floor(x[i] * 1.5f);
    }
    const Tensor dout = random({d.N, d.C, d.P(), d.Q()}, rng);
    Tensor out_ref = Tensor::zeros(dout.shape()), out_fast = Tensor::full(dout.shape(), kNaN);
    ops::max_pool2d_forward(out_ref, inp, d, Impl::Ref);
    ops::max_pool2d_forward(out_fast, inp, d, Impl::Fast);
    const std::string where = "kernel " + std::to_string(w.kernel) + " stride " + std::to_string(w.stride) +
                              " pad " + std::to_string(w.pad) + " H=" + std::to_string(d.H) +
                              " W=" + std::to_string(d.W);
    expect_close("max_pool2d forward", out_fast, out_ref, where);
    CHECK(bitwise_equal(out_fast, out_ref));  // a maximum is exact
    Tensor dinp_ref = Tensor::zeros(inp.shape()), dinp_fast = Tensor::full(inp.shape(), kNaN);
    ops::max_pool2d_backward(dinp_ref, dout, inp, out_ref, d, Impl::Ref);
    ops::max_pool2d_backward(dinp_fast, dout, inp, out_fast, d, Impl::Fast);
    expect_close("max_pool2d backward", dinp_fast, dinp_ref, where);
  }
  report("max_pool2d");
}

TEST_CASE("relu and add: fast matches reference") {
  Rng rng(11);
  for (int64_t n : {1, 7, 1000, 100003}) {
    Tensor inp = random({n}, rng);
    inp.data<float>()[0] = 0.0f;  // the kink: ReLU passes no gradient at exactly 0
    const Tensor dout = random({n}, rng), other = random({n}, rng);
    Tensor out_ref = Tensor::zeros({n}), out_fast = Tensor::full({n}, kNaN);
    ops::relu_forward(out_ref, inp, Impl::Ref);
    ops::relu_forward(out_fast, inp, Impl::Fast);
    expect_close("relu forward", out_fast, out_ref, "n=" + std::to_string(n));
    Tensor dinp_ref = Tensor::zeros({n}), dinp_fast = Tensor::full({n}, kNaN);
    ops::relu_backward(dinp_ref, dout, out_ref, Impl::Ref);
    ops::relu_backward(dinp_fast, dout, out_fast, Impl::Fast);
    expect_close("relu backward", dinp_fast, dinp_ref, "n=" + std::to_string(n));
    Tensor sum_ref = Tensor::zeros({n}), sum_fast = Tensor::full({n}, kNaN);
    ops::add(sum_ref, inp, other, Impl::Ref);
    ops::add(sum_fast, inp, other, Impl::Fast);
    expect_close("add", sum_fast, sum_ref, "n=" + std::to_string(n));
    Tensor in_place = inp.clone();  // out aliases a
    ops::add(in_place, in_place, other, Impl::Fast);
    expect_close("add in place", in_place, sum_ref, "n=" + std::to_string(n));
  }
  report("relu");
  report("add");
}

TEST_CASE("linear: fast matches reference") {
  ThreadsGuard guard;
  Rng rng(13);
  for (int trial = 0; trial < 30; ++trial) {
    const int N = 1 + int(rng.below(70)), I = 1 + int(rng.below(300)), O = 1 + int(rng.below(200));
    const bool with_bias = trial % 3 != 0, want_dinp = trial % 5 != 0;
    set_cpu_threads(1 + trial % 3);
    const Tensor inp = random({N, I}, rng), weight = random({O, I}, rng), bias = random({O}, rng);
    const Tensor dout = random({N, O}, rng);
    const Tensor* bias_ptr = with_bias ? &bias : nullptr;
    Tensor out_ref = Tensor::zeros({N, O}), out_fast = Tensor::full({N, O}, kNaN);
    ops::linear_forward(out_ref, inp, weight, bias_ptr, Impl::Ref);
    ops::linear_forward(out_fast, inp, weight, bias_ptr, Impl::Fast);
    const std::string where = "N=" + std::to_string(N) + " I=" + std::to_string(I) + " O=" + std::to_string(O);
    expect_close("linear forward", out_fast, out_ref, where);
    Tensor dinp_ref = Tensor::zeros({N, I}), dinp_fast = Tensor::full({N, I}, kNaN);
    Tensor dw_ref = Tensor::full({O, I}, 0.5), dw_fast = Tensor::full({O, I}, 0.5);
    Tensor db_ref = Tensor::full({O}, 0.5), db_fast = Tensor::full({O}, 0.5);
    ops::linear_backward(want_dinp ? &dinp_ref : nullptr, dw_ref, with_bias ? &db_ref : nullptr, dout, inp, weight,
                         Impl::Ref);
    ops::linear_backward(want_dinp ? &dinp_fast : nullptr, dw_fast, with_bias ? &db_fast : nullptr, dout, inp,
                         weight, Impl::Fast);
    expect_close("linear backward dweight", dw_fast, dw_ref, where);
    expect_close("linear backward dbias", db_fast, db_ref, where);
    if (want_dinp) expect_close("linear backward dinp", dinp_fast, dinp_ref, where);
  }
  report("linear");
}

TEST_CASE("batch_norm2d: fast matches reference in train and eval mode, forward and backward") {
  ThreadsGuard guard;
  Rng rng(17);
  for (int trial = 0; trial < 16; ++trial) {
    const ops::BatchNormDesc d{.N = 1 + int(rng.below(6)), .C = 1 + int(rng.below(12)),
                               .HW = 1 + int(rng.below(200)), .eps = 1e-5, .momentum = 0.1};
    if (d.N * d.HW < 2) continue;  // a single value per channel has no variance to normalise by
    set_cpu_threads(1 + trial % 3);
    const Shape shape = {d.N, d.C, d.HW, 1};
    const double offset = trial % 2 ? 3.0 : 0.0;  // statistics must also be right away from zero mean
    const Tensor inp = random(shape, rng, offset - 1, offset + 1), dout = random(shape, rng);
    const Tensor gamma = random({d.C}, rng, 0.5, 1.5), beta = random({d.C}, rng);
    const Tensor running_mean = random({d.C}, rng), running_var = random({d.C}, rng, 0.5, 2);
    const std::string where = "N=" + std::to_string(d.N) + " C=" + std::to_string(d.C) +
                              " HW=" + std::to_string(d.HW) + " offset=" + std::to_string(offset);
    Tensor out_ref = Tensor::zeros(shape), out_fast = Tensor::full(shape, kNaN);
    Tensor mean_ref = Tensor::zeros({d.C}), mean_fast = Tensor::full({d.C}, kNaN);
    Tensor invstd_ref = Tensor::zeros({d.C}), invstd_fast = Tensor::full({d.C}, kNaN);
    Tensor rmean_ref = running_mean.clone(), rmean_fast = running_mean.clone();
    Tensor rvar_ref = running_var.clone(), rvar_fast = running_var.clone();
    ops::batch_norm2d_forward_train(out_ref, mean_ref, invstd_ref, rmean_ref, rvar_ref, inp, gamma, beta, d,
                                    Impl::Ref);
    ops::batch_norm2d_forward_train(out_fast, mean_fast, invstd_fast, rmean_fast, rvar_fast, inp, gamma, beta, d,
                                    Impl::Fast);
    expect_close("batch_norm2d train forward", out_fast, out_ref, where);
    expect_close("batch_norm2d train save_mean", mean_fast, mean_ref, where);
    expect_close("batch_norm2d train save_invstd", invstd_fast, invstd_ref, where);
    expect_close("batch_norm2d train running_mean", rmean_fast, rmean_ref, where);
    expect_close("batch_norm2d train running_var", rvar_fast, rvar_ref, where);

    Tensor eval_ref = Tensor::zeros(shape), eval_fast = Tensor::full(shape, kNaN);
    ops::batch_norm2d_forward_eval(eval_ref, inp, gamma, beta, running_mean, running_var, d, Impl::Ref);
    ops::batch_norm2d_forward_eval(eval_fast, inp, gamma, beta, running_mean, running_var, d, Impl::Fast);
    expect_close("batch_norm2d eval forward", eval_fast, eval_ref, where);

    Tensor dinp_ref = Tensor::zeros(shape), dinp_fast = Tensor::full(shape, kNaN);
    Tensor dgamma_ref = Tensor::full({d.C}, 0.5), dgamma_fast = Tensor::full({d.C}, 0.5);
    Tensor dbeta_ref = Tensor::full({d.C}, -0.5), dbeta_fast = Tensor::full({d.C}, -0.5);
    ops::batch_norm2d_backward(dinp_ref, dgamma_ref, dbeta_ref, dout, inp, gamma, mean_ref, invstd_ref, d,
                               Impl::Ref);
    ops::batch_norm2d_backward(dinp_fast, dgamma_fast, dbeta_fast, dout, inp, gamma, mean_ref, invstd_ref, d,
                               Impl::Fast);
    expect_close("batch_norm2d backward dinp", dinp_fast, dinp_ref, where);
    expect_close("batch_norm2d backward dgamma", dgamma_fast, dgamma_ref, where);
    expect_close("batch_norm2d backward dbeta", dbeta_fast, dbeta_ref, where);
  }
  report("batch_norm2d");
}

TEST_CASE("global_avg_pool: fast matches reference") {
  Rng rng(19);
  for (const Shape& shape : {Shape{1, 1, 1, 1}, Shape{2, 3, 7, 7}, Shape{16, 512, 7, 7}, Shape{3, 5, 1, 9}}) {
    const Tensor inp = random(shape, rng), dout = random({shape[0], shape[1]}, rng);
    Tensor out_ref = Tensor::zeros({shape[0], shape[1]}), out_fast = Tensor::full({shape[0], shape[1]}, kNaN);
    ops::global_avg_pool_forward(out_ref, inp, Impl::Ref);
    ops::global_avg_pool_forward(out_fast, inp, Impl::Fast);
    expect_close("global_avg_pool forward", out_fast, out_ref, to_string(shape));
    Tensor dinp_ref = Tensor::zeros(shape), dinp_fast = Tensor::full(shape, kNaN);
    ops::global_avg_pool_backward(dinp_ref, dout, Impl::Ref);
    ops::global_avg_pool_backward(dinp_fast, dout, Impl::Fast);
    expect_close("global_avg_pool backward", dinp_fast, dinp_ref, to_string(shape));
  }
  report("global_avg_pool");
}

TEST_CASE("losses: fast matches reference") {
  Rng rng(23);
  for (int64_t n : {1, 5, 232, 70001}) {
    const Tensor pred = random({n}, rng);
    Tensor target = random({n}, rng);
    target.data<float>()[0] = pred.data<float>()[0];  // L1's sign(0) = 0
    const double dloss = 0.75;
    const std::string where = "n=" + std::to_string(n);
    Tensor loss_ref = Tensor::zeros({1}), loss_fast = Tensor::full({1}, kNaN);
    ops::mse_loss_forward(loss_ref, pred, target, Impl::Ref);
    ops::mse_loss_forward(loss_fast, pred, target, Impl::Fast);
    expect_close("mse_loss forward", loss_fast, loss_ref, where);
    ops::l1_loss_forward(loss_ref, pred, target, Impl::Ref);
    ops::l1_loss_forward(loss_fast, pred, target, Impl::Fast);
    expect_close("l1_loss forward", loss_fast, loss_ref, where);
    Tensor grad_ref = Tensor::zeros({n}), grad_fast = Tensor::full({n}, kNaN);
    ops::mse_loss_backward(grad_ref, pred, target, dloss, Impl::Ref);
    ops::mse_loss_backward(grad_fast, pred, target, dloss, Impl::Fast);
    expect_close("mse_loss backward", grad_fast, grad_ref, where);
    grad_fast = Tensor::full({n}, kNaN);
    ops::l1_loss_backward(grad_ref, pred, target, dloss, Impl::Ref);
    ops::l1_loss_backward(grad_fast, pred, target, dloss, Impl::Fast);
    expect_close("l1_loss backward", grad_fast, grad_ref, where);
  }
  report("mse_loss");
  report("l1_loss");
}

TEST_CASE("optimizers: fast Adam, AdamW and SGD match reference over several steps") {
  Rng rng(29);
  const int64_t n = 50000;
  const Tensor start = random({n}, rng);
  SUBCASE("Adam and AdamW") {
    for (double weight_decay : {0.0, 0.01}) {
      for (bool decoupled : {false, true}) {
        Tensor p_ref = start.clone(), p_fast = start.clone();
        Tensor m_ref = Tensor::zeros({n}), m_fast = Tensor::zeros({n});
        Tensor v_ref = Tensor::zeros({n}), v_fast = Tensor::zeros({n});
        for (int64_t step = 1; step <= 4; ++step) {
          const Tensor grad = random({n}, rng);
          const ops::AdamDesc d{.lr = 1e-2, .weight_decay = weight_decay, .decoupled_weight_decay = decoupled,
                                .step = step};
          ops::adam_update(p_ref, grad, m_ref, v_ref, d, Impl::Ref);
          ops::adam_update(p_fast, grad, m_fast, v_fast, d, Impl::Fast);
        }
        const std::string where = "weight_decay=" + std::to_string(weight_decay) + (decoupled ? " AdamW" : "");
        expect_close("adam param", p_fast, p_ref, where);
        expect_close("adam m", m_fast, m_ref, where);
        expect_close("adam v", v_fast, v_ref, where);
      }
    }
    report("adam");
  }
  SUBCASE("SGD") {
    struct Setting {
      double momentum, dampening, weight_decay;
      bool nesterov;
    };
    for (const Setting s : {Setting{0, 0, 0, false}, Setting{0.9, 0, 1e-3, false}, Setting{0.9, 0.1, 0, false},
                            Setting{0.9, 0, 1e-3, true}}) {
      Tensor p_ref = start.clone(), p_fast = start.clone();
      Tensor b_ref = Tensor::full({n}, 0.5), b_fast = Tensor::full({n}, 0.5);
      for (int step = 0; step < 4; ++step) {
        const Tensor grad = random({n}, rng);
        const ops::SgdDesc d{.lr = 1e-2, .momentum = s.momentum, .dampening = s.dampening,
                             .weight_decay = s.weight_decay, .nesterov = s.nesterov, .first_step = step == 0};
        ops::sgd_update(p_ref, grad, b_ref, d, Impl::Ref);
        ops::sgd_update(p_fast, grad, b_fast, d, Impl::Fast);
      }
      const std::string where = "momentum=" + std::to_string(s.momentum) + (s.nesterov ? " nesterov" : "");
      expect_close("sgd param", p_fast, p_ref, where);
      expect_close("sgd momentum buffer", b_fast, b_ref, where);
    }
    report("sgd");
  }
}
