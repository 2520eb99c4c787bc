// The parity suite: every op of kernels/ops.h, through every (device, Impl) this build and machine
// have, against the CPU reference run in double (the oracle), on tables of cases per op (hand-picked
// shapes and seeded random-shape loops).
//
// Rows: CPU Ref, Fast (our GEMM) and Vendor (Eigen's GEMM for conv and linear) in float32 always; CUDA
// Ref, Fast and (with cuDNN) Vendor when the build has CUDA and a device is visible. CI runs the CPU
// rows; on a machine with a GPU the same binary runs the GPU rows too. A device query that fails for
// another reason than "no device / no driver" fails, and so does a run without CUDA rows under
// KEYNET_REQUIRE_GPU=1 (scripts/gpu-check.sh on the lent GPU machine).
//
// Tolerance, per result tensor (tests/support/parity.h):
//   |got_i - want_i| <= factor(op, impl) * u * sqrt(K_i) * max|want|,   u = kRoundoffs * 2^-24
// with K_i the reduction length behind each element: conv forward C*R*S, conv dinp K*R*S, conv
// dweight/dbias N*P*Q; linear forward I, dinp O, dweight/dbias N; batch norm N*HW (eval 1); pool the
// window size; global average pool HW (backward 1); losses n (backward 1); upsampling 1 (backward the
// scale^2 block); soft-argmax H*W (its probabilities, point and gradient all rest on the map's sums);
// elementwise 1; an optimizer the number of steps (each step rounds the state again). factor() below lists
// every factor above 1.
// NaN or Inf on either side fails, except in the cases that plant NaN and +-Inf in their inputs (ReLU, max
// pooling, batch norm + ReLU and soft-argmax, which must propagate NaN as PyTorch does): there the oracle's
// NaN must be matched by a NaN and its infinities by the same infinity (parity::compare_nonfinite).
//
// Pre-filling: outputs and input gradients start as NaN (every element must be written; in the cases with
// NaN planted, as kUnwritten, a finite value no op of theirs produces); parameter
// gradients (dweight, dbias, dgamma, dbeta) start as a random sentinel, uniform in +-max|reference
// gradient| (1 where the reference gradient is all zero), the same on every row, and the oracle's
// expectation is sentinel + gradient: a kernel that overwrites instead of accumulating is off by a
// gradient-sized amount, far outside the tolerance whatever the gradient's scale.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/cpu/fast/direct_conv.h"
#include "kernels/cpu/fast/winograd.h"
#include "kernels/ops.h"
#include "support/parity.h"
#include "support/require_gpu.h"
#include "tensor/cuda_memory.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

using namespace keynet;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();
const double kUnwritten = -1234.5;  // outputs of the cases with NaN planted start as this

// Line-buffered stdout, set before main: every report line reaches the log even if a GPU fault kills
// the process.
const bool stdout_line_buffered = std::setvbuf(stdout, nullptr, _IOLBF, 0) == 0;

// ------------------------------------------------------------------------------------------ rows
struct Backend {
  Device device;
  Impl impl;
};

std::string label(const Backend& b) {
  return std::string(b.device == Device::CPU ? "cpu/" : "cuda/") + to_string(b.impl);
}

// Why the GPU rows do not run ("" when they do). A device query that fails for another reason than
// no device or no driver is a failure, reported by its own test case below.
std::string gpu_skip_reason() {
#ifndef KEYNET_WITH_CUDA
  return "built without CUDA";
#else
  if (!cuda_memory::device_query_failure().empty()) return "the CUDA device query failed";
  if (!cuda_memory::device_available()) return "no CUDA device visible";
  return "";
#endif
}

std::vector<Backend> gpu_backends() {
  if (!gpu_skip_reason().empty()) return {};
#ifdef KEYNET_WITH_CUDNN
  return {{Device::CUDA, Impl::Ref}, {Device::CUDA, Impl::Fast}, {Device::CUDA, Impl::Vendor}};
#else
  return {{Device::CUDA, Impl::Ref}, {Device::CUDA, Impl::Fast}};
#endif
}

std::vector<Backend> backends() {
  std::vector<Backend> all = {{Device::CPU, Impl::Ref}, {Device::CPU, Impl::Fast}, {Device::CPU, Impl::Vendor}};
  for (const Backend& b : gpu_backends()) all.push_back(b);
  return all;
}

// The factors above 1, each with its reason. Everything else is 1.
double factor(const std::string& op, const Backend& b) {
  // cuDNN's heuristics pick FFT and Winograd convolutions, whose error is bounded norm-wise, not per
  // dot product: on the H200 the FFT filter gradient of a 5x5 conv (N=4, C=12, K=24, 30x40, so
  // K = N*P*Q = 4800) was off by 2.3e-3 of scale, about 70 units of the formula; 256 leaves margin.
  if (b.device == Device::CUDA && b.impl == Impl::Vendor && op.rfind("conv2d", 0) == 0) return 256;
  // The naive kernels (Impl::Ref, CPU and CUDA) sum serially in float32, so their error follows the
  // partial sums, not the result: where a result cancels (a one-channel bias gradient of 0.79 out of
  // partial sums near 20) it reaches 2.6 units of the formula on the CPU (batch-norm dbeta, C=1); a
  // soft-argmax point (the sum of H*W terms of both signs) 2.3 units on maps up to 80x80.
  static const std::set<std::string> reductions = {
      "conv2d_forward", "conv2d_backward", "linear_forward", "linear_backward", "batch_norm2d_train",
      "batch_norm2d_backward", "batch_norm2d_relu_train", "batch_norm2d_relu_backward", "global_avg_pool_forward",
      "mse_loss_forward", "l1_loss_forward", "wing_loss_forward", "conv2d_forward, batch norm folded",
      "soft_argmax2d_forward", "batch_norm2d_channel_sums", "batch_norm2d_stats_from_sums", "batch_norm2d_normalize",
      "batch_norm2d_backward_sums", "batch_norm2d_backward_apply"};
  if (b.impl == Impl::Ref && reductions.count(op)) return 8;
  return 1;
}

// ------------------------------------------------------------------------------------------ cases
// One tensor a case produced, in double on the host.
struct Result {
  std::string op, what;
  Shape shape;
  std::vector<double> values;
  double K = 1;
  double factor = 1;      // times factor(op, row): a row's own algorithm with a looser bound
  std::string algorithm;  // that algorithm's name ("winograd"), reported on its own line
};

// One run of a case: on the oracle (CPU, double, Ref) or on a row (device, float32, impl). A case's body
// draws its inputs from rng() in the same order on every run, so every row sees the same inputs.
class Run {
 public:
  Run(uint64_t seed, const Backend& backend, bool oracle, const std::map<std::string, Tensor>* sentinels,
      bool nonfinite)
      : rng_(seed), backend_(backend), oracle_(oracle), sentinels_(sentinels), nonfinite_(nonfinite) {}

  Impl impl() const { return backend_.impl; }
  bool cpu_fast() const { return !oracle_ && backend_.device == Device::CPU && backend_.impl == Impl::Fast; }
  Rng& rng() { return rng_; }

  // A float32 host tensor as this run's input (a copy: ops may update it in place).
  Tensor input(const Tensor& host) const {
    const Tensor t = host.to(dtype()).to(backend_.device);
    return t.raw() == host.raw() ? t.clone() : t;
  }
  Tensor uniform(const Shape& shape, double low, double high) {
    return input(Tensor::uniform(shape, rng_, low, high));
  }
  // Outputs and input gradients: NaN, so an element the kernel never writes fails (kUnwritten where NaN is
  // an expected result).
  Tensor output(const Shape& shape) const {
    return Tensor::full(shape, nonfinite_ ? kUnwritten : kNaN, dtype()).to(backend_.device);
  }
  // Parameter gradients: zero on the oracle (its gradient sets the sentinel's size), the sentinel on a row.
  Tensor param_grad(const std::string& what, const Shape& shape) {
    param_grads_.insert(what);
    if (oracle_) return Tensor::zeros(shape, Device::CPU, DType::F64);
    return input(sentinels_->at(what));
  }
  void check(const std::string& op, const std::string& what, const Tensor& t, double K,
             const std::pair<double, std::string>& algorithm = {1, ""}) {
    results_.push_back({op, what, t.shape(), parity::host_values(t), K, algorithm.first, algorithm.second});
  }

  std::vector<Result>& results() { return results_; }
  bool is_param_grad(const std::string& what) const { return param_grads_.count(what) != 0; }

 private:
  DType dtype() const { return oracle_ ? DType::F64 : DType::F32; }

  Rng rng_;
  Backend backend_;
  bool oracle_;
  const std::map<std::string, Tensor>* sentinels_;
  bool nonfinite_;
  std::vector<Result> results_;
  std::set<std::string> param_grads_;
};

struct Case {
  std::string shape;  // what the row is, printed with every failure
  std::function<void(Run&)> body;
  std::vector<int> threads = {};  // CPU Fast thread counts; empty: one, 1 + (row index % 3)
  bool gpu_only = false;          // the double oracle is too slow for every CI run: only with a GPU
  bool repeat = false;            // GPU rows: a second run must be bitwise equal
  std::string not_vendor;         // why cuda/vendor does not run this case ("" when it does)
  bool nonfinite = false;         // NaN and +-Inf planted in the inputs: results must match them in place
};

// ------------------------------------------------------------------------------------------ report
struct Worst {
  double ratio = 0;
  long results = 0;
  double factor = 1;
};

std::map<std::string, Worst>& worst_ratios() {  // key: "op  device/impl"
  static std::map<std::string, Worst> table;
  return table;
}

std::map<std::string, long>& skipped_rows() {  // key: why
  static std::map<std::string, long> table;
  return table;
}

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = cpu_threads();
  ~ThreadsGuard() { set_cpu_threads(saved); }
};

// Same bits in every result of two runs.
bool same_results(const std::vector<Result>& a, const std::vector<Result>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].values.size() != b[i].values.size() ||
        !std::equal(a[i].values.begin(), a[i].values.end(), b[i].values.begin(),
                    [](double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; }))
      return false;
  return true;
}

bool nondeterministic_vendor_allowed() {
  const char* value = std::getenv("KEYNET_CUDNN_NONDETERMINISTIC");
  return value && std::string(value) == "1";
}

// Runs every case of one op's table: the oracle first, then every row, each result compared.
void run_table(const std::string& table, const std::vector<Case>& cases, uint64_t seed) {
  ThreadsGuard guard;
  const std::vector<Backend> rows = backends();
  for (std::size_t index = 0; index < cases.size(); ++index) {
    const Case& c = cases[index];
    if (c.gpu_only && gpu_backends().empty()) {
      ++skipped_rows()[table + ": GPU-only rows (oracle too slow for the CPU run)"];
      continue;
    }
    const uint64_t case_seed = seed * 1000003 + index;
    Run oracle(case_seed, {Device::CPU, Impl::Ref}, true, nullptr, c.nonfinite);
    c.body(oracle);
    std::vector<Result>& want = oracle.results();
    std::map<std::string, Tensor> sentinels;
    Rng sentinel_rng(case_seed ^ 0x5e5e5e5eULL);
    for (Result& r : want) {
      if (!oracle.is_param_grad(r.what)) continue;
      double size = 0;
      for (double v : r.values) size = std::max(size, std::abs(v));
      if (size == 0 || !std::isfinite(size)) size = 1;
      const Tensor sentinel = Tensor::uniform(r.shape, sentinel_rng, -size, size);
      const std::vector<double> s = sentinel.to_double_vector();
      for (std::size_t i = 0; i < s.size(); ++i) r.values[i] += s[i];
      sentinels[r.what] = sentinel;
    }
    for (const Backend& row : rows) {
      if (row.device == Device::CUDA && row.impl == Impl::Vendor && !c.not_vendor.empty()) {
        ++skipped_rows()[table + ": cuda/vendor, " + c.not_vendor];
        continue;
      }
      std::vector<int> threads = {0};
      if (row.device == Device::CPU && row.impl != Impl::Ref)
        threads = c.threads.empty() ? std::vector<int>{1 + static_cast<int>(index % 3)} : c.threads;
      for (int thread_count : threads) {
        if (thread_count > 0) set_cpu_threads(thread_count);
        const std::string where = table + " [" + c.shape + "] " + label(row) +
                                  (thread_count > 0 ? " threads=" + std::to_string(thread_count) : "");
        try {
          Run run(case_seed, row, false, &sentinels, c.nonfinite);
          c.body(run);
          const std::vector<Result>& got = run.results();
          REQUIRE(got.size() == want.size());
          for (std::size_t i = 0; i < got.size(); ++i) {
            const Result& w = want[i];
            REQUIRE(got[i].what == w.what);
            const double f = factor(w.op, row) * got[i].factor;
            const parity::Comparison cmp = c.nonfinite ? parity::compare_nonfinite(got[i].values, w.values, w.K, f)
                                                       : parity::compare(got[i].values, w.values, w.K, f);
            const std::string& algorithm = got[i].algorithm;
            Worst& worst = worst_ratios()[w.op + "  " + label(row) + (algorithm.empty() ? "" : " " + algorithm)];
            worst.ratio = std::max(worst.ratio, cmp.ratio);
            worst.factor = f;
            ++worst.results;
            if (!cmp.ok) std::printf("FAIL %s %s: %s\n", where.c_str(), w.what.c_str(), cmp.problem.c_str());
            INFO(where, " ", w.op, ".", w.what, ": ", cmp.problem);
            CHECK(cmp.ok);
          }
          if (c.repeat && row.device == Device::CUDA) {
            Run again(case_seed, row, false, &sentinels, c.nonfinite);
            c.body(again);
            const bool same = same_results(got, again.results());
            const bool excused = row.impl == Impl::Vendor && nondeterministic_vendor_allowed();
            std::printf("%s %s: two identical runs %s\n", same ? "ok  " : "FAIL", where.c_str(),
                        same ? "agree bitwise" : "differ");
            INFO(where, ": two identical runs differ (KEYNET_CUDNN_NONDETERMINISTIC=1 excuses cuda/vendor)");
            CHECK((same || excused));
          }
        } catch (const std::exception& e) {  // a vendor library refusing a shape, a failed launch: this row
          std::printf("FAIL %s threw: %s\n", where.c_str(), e.what());
          FAIL_CHECK(where, " threw: ", std::string(e.what()));
        }
      }
    }
  }
}

int pick(Rng& rng, int low, int high) { return low + static_cast<int>(rng.below(static_cast<uint64_t>(high - low + 1))); }

// Plants NaN in a tenth of a host tensor's elements, +Inf in a twentieth and -Inf in another, at positions
// drawn from rng. In max-pool windows this makes windows with one NaN, with two or more (which one wins
// decides the gradient), with NaN beside +Inf, of -Inf and padding only, and NaN beside padding.
void plant_nonfinite(Tensor& host, Rng& rng) {
  float* x = host.data<float>();
  for (int64_t i = 0; i < host.numel(); ++i) {
    const uint64_t roll = rng.below(20);
    if (roll < 2) x[i] = static_cast<float>(kNaN);
    else if (roll == 2) x[i] = static_cast<float>(kInf);
    else if (roll == 3) x[i] = static_cast<float>(-kInf);
  }
}

// ------------------------------------------------------------------------------------------ conv2d
std::string describe(const ops::ConvDesc& d, bool bias, bool dinp) {
  char text[160];
  std::snprintf(text, sizeof text, "N=%d C=%d H=%d W=%d K=%d R=%d S=%d stride=%d pad=%d%s%s", d.N, d.C, d.H, d.W,
                d.K, d.R, d.S, d.stride, d.pad, bias ? " bias" : " no-bias", dinp ? "" : " no-dinp");
  return text;
}

// Winograd F(4x4, 3x3) on the CPU Fast row (kernels/cpu/fast/winograd.cpp) is not a dot product per
// element: its transforms scale values by up to 8 and 1/24, so its error is a constant times the dot
// product's. Measured worst over these tables on both micro-kernels: 0.9 units of the formula (forward
// and both gradients); 4 leaves room for inputs less tame than uniform ones (docs/DESIGN.md). F(2x2, 3x3)
// (transforms that scale by at most 2) is held to the same factor and stays under a tenth of it.
constexpr double kWinogradFactor = 4;

// The direct convolution (kernels/cpu/fast/direct_conv.cpp) sums each element as one dot product, as the
// GEMM path does: the same bound, reported on its own line.
std::pair<double, std::string> conv_algorithm(const Run& r, const ops::ConvDesc& d,
                                              cpu::fast::ConvDirection direction) {
  if (r.cpu_fast() && cpu::fast::uses_winograd(d, direction)) {
    const ops::ConvDesc shape = direction == cpu::fast::ConvDirection::data_gradient ? cpu::fast::data_gradient_desc(d) : d;
    return {kWinogradFactor, cpu::fast::winograd_tile(shape) == 2 ? "winograd 2x2" : "winograd"};
  }
  if (r.cpu_fast() && cpu::fast::uses_direct(d, direction)) return {1, "direct"};
  return {1, ""};
}

Case conv_case(const ops::ConvDesc& d, bool with_bias, bool with_dinp) {
  using cpu::fast::ConvDirection;
  Case c;
  c.shape = describe(d, with_bias, with_dinp);
  c.body = [=](Run& r) {
    const Shape in_shape{d.N, d.C, d.H, d.W}, w_shape{d.K, d.C, d.R, d.S}, out_shape{d.N, d.K, d.P(), d.Q()};
    const Tensor inp = r.uniform(in_shape, -1, 1), weight = r.uniform(w_shape, -0.5, 0.5);
    const Tensor bias = r.uniform({d.K}, -1, 1), dout = r.uniform(out_shape, -1, 1);
    Tensor out = r.output(out_shape);
    ops::conv2d_forward(out, inp, weight, with_bias ? &bias : nullptr, d, r.impl());
    r.check("conv2d_forward", "out", out, d.C * d.R * d.S, conv_algorithm(r, d, ConvDirection::forward));
    Tensor dinp = r.output(in_shape), dweight = r.param_grad("dweight", w_shape), dbias = r.param_grad("dbias", {d.K});
    ops::conv2d_backward(with_dinp ? &dinp : nullptr, dweight, with_bias ? &dbias : nullptr, dout, inp, weight, d,
                         r.impl());
    if (with_dinp)
      r.check("conv2d_backward", "dinp", dinp, d.K * d.R * d.S, conv_algorithm(r, d, ConvDirection::data_gradient));
    const auto weight_algorithm = conv_algorithm(r, d, ConvDirection::weight_gradient);
    r.check("conv2d_backward", "dweight", dweight, double(d.N) * d.P() * d.Q(), weight_algorithm);
    // without a bias, dbias must come back as its sentinel, untouched
    r.check("conv2d_backward", "dbias", dbias, double(d.N) * d.P() * d.Q(), weight_algorithm);
  };
  return c;
}

// 3x3 stride-1 shapes for the Winograd path: every padding it takes (0-2), maps that end mid-tile,
// channels below a vector, more tiles than one block (a block holds 48 to 240) and fewer, ResNet18's
// stage shapes at small batch; both tiles (4x4, and 2x2 where those would be mostly padding: the 3x3 map
// unpadded, the 1x6 one, the 5x5 and 11x3 ones).
std::vector<Case> winograd_cases() {
  std::vector<Case> cases;
  const ops::ConvDesc shapes[] = {
      {.N = 2, .C = 64, .H = 20, .W = 20, .K = 64, .R = 3, .S = 3, .stride = 1, .pad = 1},
      {.N = 2, .C = 128, .H = 10, .W = 10, .K = 128, .R = 3, .S = 3, .stride = 1, .pad = 1},
      {.N = 1, .C = 256, .H = 7, .W = 7, .K = 256, .R = 3, .S = 3, .stride = 1, .pad = 1},
      {.N = 3, .C = 5, .H = 13, .W = 11, .K = 7, .R = 3, .S = 3, .stride = 1, .pad = 0},
      {.N = 2, .C = 3, .H = 9, .W = 17, .K = 4, .R = 3, .S = 3, .stride = 1, .pad = 2},
      {.N = 5, .C = 17, .H = 31, .W = 29, .K = 19, .R = 3, .S = 3, .stride = 1, .pad = 1},
      {.N = 1, .C = 1, .H = 3, .W = 3, .K = 1, .R = 3, .S = 3, .stride = 1, .pad = 0},
      {.N = 4, .C = 2, .H = 1, .W = 6, .K = 3, .R = 3, .S = 3, .stride = 1, .pad = 1},
      // 10 tiles a row: the transforms take the tiles row by row (up to 5 a row, they gather them)
      {.N = 2, .C = 6, .H = 6, .W = 37, .K = 5, .R = 3, .S = 3, .stride = 1, .pad = 1},
      // 2x2 tiles (winograd_tile): part 3's last stage at 5x5, more tiles than a block; and a map 3 wide
      {.N = 7, .C = 40, .H = 5, .W = 5, .K = 36, .R = 3, .S = 3, .stride = 1, .pad = 1},
      {.N = 3, .C = 9, .H = 11, .W = 3, .K = 10, .R = 3, .S = 3, .stride = 1, .pad = 1},
  };
  int index = 0;
  for (const ops::ConvDesc& d : shapes) {
    Case c = conv_case(d, index % 2 == 0, true);
    c.threads = {1, 2, 3};
    cases.push_back(c);
    ++index;
  }
  return cases;
}

// A batch norm (evaluation) folded into the convolution before it, for inference (ops::batch_norm2d_fold,
// on the host in double for every backend): each backend's convolution with the folded weights against the
// double reference's, which equals BN_eval(conv(x)) to double rounding. K: the convolution's, plus the bias.
Case fold_case(const ops::ConvDesc& d, bool with_bias) {
  using cpu::fast::ConvDirection;
  Case c;
  c.shape = describe(d, with_bias, false);
  c.body = [=](Run& r) {
    const Shape in_shape{d.N, d.C, d.H, d.W}, w_shape{d.K, d.C, d.R, d.S}, out_shape{d.N, d.K, d.P(), d.Q()};
    const Tensor inp = r.uniform(in_shape, -1, 1), weight = r.uniform(w_shape, -0.5, 0.5);
    const Tensor bias = r.uniform({d.K}, -1, 1), gamma = r.uniform({d.K}, 0.5, 1.5), beta = r.uniform({d.K}, -1, 1);
    const Tensor mean = r.uniform({d.K}, -0.5, 0.5), var = r.uniform({d.K}, 0.05, 2);
    Tensor folded_weight = r.output(w_shape), folded_bias = r.output({d.K}), out = r.output(out_shape);
    ops::batch_norm2d_fold(folded_weight, folded_bias, weight, with_bias ? &bias : nullptr, gamma, beta, mean, var,
                           1e-5);
    ops::conv2d_forward(out, inp, folded_weight, &folded_bias, d, r.impl());
    r.check("conv2d_forward, batch norm folded", "out", out, d.C * d.R * d.S + 1,
            conv_algorithm(r, d, ConvDirection::forward));
  };
  return c;
}

// ResNet18's folded shapes (stem, a 3x3 stage that Winograd takes, the strided 1x1 shortcut) and the
// IMM nets' biased 5x5.
std::vector<Case> fold_cases() {
  return {fold_case({.N = 2, .C = 1, .H = 40, .W = 36, .K = 8, .R = 7, .S = 7, .stride = 2, .pad = 3}, false),
          fold_case({.N = 2, .C = 64, .H = 14, .W = 14, .K = 64, .R = 3, .S = 3, .stride = 1, .pad = 1}, false),
          fold_case({.N = 3, .C = 16, .H = 9, .W = 11, .K = 32, .R = 1, .S = 1, .stride = 2, .pad = 0}, false),
          fold_case({.N = 2, .C = 3, .H = 17, .W = 13, .K = 5, .R = 5, .S = 5, .stride = 1, .pad = 2}, true)};
}

std::vector<Case> conv_cases() {
  std::vector<Case> cases;
  // the network's shapes: ResNet's 7x7/2 stem without bias or dinp, a 3x3 stage, a strided 1x1
  // shortcut, a 5x5 with bias (the shape cuDNN answered with FFT), ragged odd sizes, 1x1 stride 1
  cases.push_back(conv_case({.N = 2, .C = 1, .H = 40, .W = 36, .K = 8, .R = 7, .S = 7, .stride = 2, .pad = 3},
                            false, false));
  cases.push_back(conv_case({.N = 2, .C = 32, .H = 14, .W = 14, .K = 32, .R = 3, .S = 3, .stride = 1, .pad = 1},
                            false, true));
  cases.push_back(conv_case({.N = 3, .C = 16, .H = 15, .W = 15, .K = 32, .R = 1, .S = 1, .stride = 2, .pad = 0},
                            false, true));
  cases.push_back(conv_case({.N = 4, .C = 12, .H = 30, .W = 40, .K = 24, .R = 5, .S = 5, .stride = 1, .pad = 2},
                            true, true));
  cases.push_back(conv_case({.N = 3, .C = 5, .H = 13, .W = 11, .K = 7, .R = 3, .S = 5, .stride = 2, .pad = 2},
                            true, true));
  cases.push_back(conv_case({.N = 3, .C = 32, .H = 9, .W = 9, .K = 16, .R = 1, .S = 1, .stride = 1, .pad = 0},
                            true, true));
  // batch below and above the CPU thread count (the two ways the fast path splits its work)
  cases.push_back(conv_case({.N = 1, .C = 16, .H = 23, .W = 19, .K = 24, .R = 3, .S = 3, .stride = 1, .pad = 1},
                            true, true));
  cases.push_back(conv_case({.N = 6, .C = 8, .H = 17, .W = 20, .K = 12, .R = 5, .S = 5, .stride = 2, .pad = 2},
                            true, true));
  for (Case& c : cases) c.threads = {1, 2, 4};

  // the old CPU suite's random loop: every shape at 1, 2 and 3 threads; the first four are 1x1
  Rng rng(2024);
  static const int kernels[] = {1, 3, 5, 7};
  for (int trial = 0; trial < 150; ++trial) {
    ops::ConvDesc d;
    d.N = 1 + int(rng.below(8));
    d.C = 1 + int(rng.below(9));
    d.K = 1 + int(rng.below(20));
    d.R = kernels[rng.below(4)];
    d.S = rng.below(4) == 0 ? kernels[rng.below(4)] : d.R;  // mostly square, sometimes not
    d.stride = 1 + int(rng.below(2));
    d.pad = int(rng.below(4));
    d.H = std::max(1, d.R - 2 * d.pad) + int(rng.below(18));
    d.W = std::max(1, d.S - 2 * d.pad) + int(rng.below(18));
    if (trial < 4) {
      d.R = d.S = 1;
      d.pad = 0;
      d.stride = trial < 2 ? 1 : 2;
    }
    const bool with_bias = rng.below(3) != 0, with_dinp = rng.below(6) != 0;
    Case c = conv_case(d, with_bias, with_dinp);
    c.threads = {1, 2, 3};
    cases.push_back(c);
  }
  // the old GPU suite's random loop: batch up to 32, square kernels
  Rng gpu_rng(2025);
  for (int done = 0; done < 40;) {
    ops::ConvDesc d;
    d.R = d.S = kernels[gpu_rng.below(4)];
    d.stride = pick(gpu_rng, 1, 2);
    d.pad = pick(gpu_rng, 0, std::min(3, d.R));
    d.N = pick(gpu_rng, 1, 32);
    d.C = pick(gpu_rng, 1, 12);
    d.K = pick(gpu_rng, 1, 12);
    d.H = pick(gpu_rng, std::max(1, d.R - 2 * d.pad), 23);
    d.W = pick(gpu_rng, std::max(1, d.S - 2 * d.pad), 23);
    if (d.P() <= 0 || d.Q() <= 0 || d.flops_forward() > 6e6) continue;  // keep the double oracle quick
    cases.push_back(conv_case(d, gpu_rng.below(2) == 0, done % 7 != 3));
    ++done;
  }
  // the CUDA fast path's 128x128 tiles (14.5 GFLOP through the naive oracle: GPU runs only), split-K
  // on the weight gradient, a strided 3x3 with a long data-gradient sum, and shapes whose every GEMM is
  // split along k on a large device; repeated runs must agree bitwise
  Case tiles = conv_case({.N = 16, .C = 64, .H = 32, .W = 32, .K = 256, .R = 3, .S = 3, .stride = 1, .pad = 1},
                         true, true);
  tiles.gpu_only = true;
  tiles.repeat = true;
  cases.push_back(tiles);
  for (const ops::ConvDesc& d :
       {ops::ConvDesc{.N = 64, .C = 16, .H = 28, .W = 28, .K = 16, .R = 3, .S = 3, .stride = 1, .pad = 1},
        ops::ConvDesc{.N = 8, .C = 128, .H = 14, .W = 14, .K = 256, .R = 3, .S = 3, .stride = 2, .pad = 1},
        ops::ConvDesc{.N = 32, .C = 16, .H = 20, .W = 20, .K = 24, .R = 3, .S = 3, .stride = 1, .pad = 1},
        ops::ConvDesc{.N = 8, .C = 128, .H = 14, .W = 14, .K = 64, .R = 3, .S = 3, .stride = 1, .pad = 1}}) {
    Case c = conv_case(d, true, true);
    c.repeat = true;
    cases.push_back(c);
  }
  return cases;
}

// ------------------------------------------------------------------------------------------ max_pool2d
enum class PoolValues { Random, Ties, Distinct, NonFinite };

Case pool_case(const ops::PoolDesc& d, PoolValues values) {
  Case c;
  char text[160];
  std::snprintf(text, sizeof text, "N=%d C=%d H=%d W=%d kernel=%d stride=%d pad=%d%s", d.N, d.C, d.H, d.W, d.kernel,
                d.stride, d.pad,
                values == PoolValues::Ties       ? " ties"
                : values == PoolValues::Distinct  ? " distinct"
                : values == PoolValues::NonFinite ? " nan/inf"
                                                  : "");
  c.shape = text;
  c.nonfinite = values == PoolValues::NonFinite;
  if (values == PoolValues::Ties) c.not_vendor = "ties (cuDNN does not document which tied element wins)";
  c.body = [=](Run& r) {
    const Shape in_shape{d.N, d.C, d.H, d.W}, out_shape{d.N, d.C, d.P(), d.Q()};
    Tensor host = Tensor::uniform(in_shape, r.rng(), -1, 1);
    float* x = host.data<float>();
    if (values == PoolValues::Ties) {  // few distinct values: windows tie, the first maximum wins
      for (int64_t i = 0; i < host.numel(); ++i) x[i] = std::floor(x[i] * 1.5f);
    } else if (values == PoolValues::Distinct) {  // a shuffled ramp: every winner unambiguous
      const int64_t n = host.numel();
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(-1.0 + 2.0 * i / n);
      for (int64_t i = n - 1; i > 0; --i) std::swap(x[i], x[r.rng().below(i + 1)]);
    } else if (values == PoolValues::NonFinite) {
      plant_nonfinite(host, r.rng());
    }
    const Tensor inp = r.input(host), dout = r.uniform(out_shape, -1, 1);
    Tensor out = r.output(out_shape), dinp = r.output(in_shape);
    ops::max_pool2d_forward(out, inp, d, r.impl());
    r.check("max_pool2d_forward", "out", out, d.kernel * d.kernel);
    ops::max_pool2d_backward(dinp, dout, inp, out, d, r.impl());
    r.check("max_pool2d_backward", "dinp", dinp, d.kernel * d.kernel);
  };
  return c;
}

std::vector<Case> pool_cases() {
  std::vector<Case> cases;
  cases.push_back(pool_case({.N = 2, .C = 3, .H = 7, .W = 9, .kernel = 3, .stride = 2, .pad = 1}, PoolValues::Random));
  cases.push_back(pool_case({.N = 2, .C = 3, .H = 7, .W = 9, .kernel = 3, .stride = 2, .pad = 1}, PoolValues::Ties));
  // 3x3/2 pad 1 rows of more than 16 windows (the fast path's vector width), even and odd sizes
  for (const auto& [H, W] :
       {std::pair{40, 36}, std::pair{37, 45}, std::pair{18, 67}, std::pair{33, 21}, std::pair{20, 20}})
    for (PoolValues values : {PoolValues::Random, PoolValues::Ties, PoolValues::Distinct})
      cases.push_back(pool_case({.N = 2, .C = 2, .H = H, .W = W, .kernel = 3, .stride = 2, .pad = 1}, values));
  // the old CPU suite's loop: every window kind, with and without ties
  struct Window {
    int kernel, stride, pad;
  };
  const Window windows[] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 1, 0}, {3, 3, 0}, {4, 2, 2}};
  Rng rng(5);
  for (int trial = 0; trial < 48; ++trial) {
    const Window w = windows[trial % 6];
    ops::PoolDesc d{.N = 1 + int(rng.below(3)), .C = 1 + int(rng.below(5)), .H = 0, .W = 0, .kernel = w.kernel,
                    .stride = w.stride, .pad = w.pad};
    d.H = w.kernel + int(rng.below(15));
    d.W = w.kernel + int(rng.below(15));
    cases.push_back(pool_case(d, (trial / 6) % 2 ? PoolValues::Ties : PoolValues::Random));
  }
  // the old GPU suite's loop: kernels 1..5, strides 1..3, distinct values
  Rng gpu_rng(3);
  for (int i = 0; i < 40; ++i) {
    ops::PoolDesc d;
    d.kernel = pick(gpu_rng, 1, 5);
    d.stride = pick(gpu_rng, 1, 3);
    d.pad = pick(gpu_rng, 0, d.kernel / 2);
    d.N = pick(gpu_rng, 1, 16);
    d.C = pick(gpu_rng, 1, 8);
    d.H = pick(gpu_rng, std::max(1, d.kernel - 2 * d.pad), 25);
    d.W = pick(gpu_rng, std::max(1, d.kernel - 2 * d.pad), 25);
    if (d.P() <= 0 || d.Q() <= 0) continue;
    cases.push_back(pool_case(d, PoolValues::Distinct));
  }
  // NaN and +-Inf planted: a NaN wins its window (the last NaN of several), as in PyTorch, on every path
  // of the fast kernel (3x3/2 pad 1 on AVX-512 with its border windows, 2x2/2, the general row loop)
  for (const auto& [H, W] : {std::pair{7, 9}, std::pair{40, 36}, std::pair{37, 45}, std::pair{18, 67}})
    cases.push_back(
        pool_case({.N = 2, .C = 3, .H = H, .W = W, .kernel = 3, .stride = 2, .pad = 1}, PoolValues::NonFinite));
  for (const auto& [H, W] : {std::pair{12, 15}, std::pair{40, 36}})
    cases.push_back(
        pool_case({.N = 2, .C = 3, .H = H, .W = W, .kernel = 2, .stride = 2, .pad = 0}, PoolValues::NonFinite));
  for (const auto& [kernel, stride, pad] : {std::tuple{3, 1, 1}, std::tuple{2, 1, 0}, std::tuple{3, 3, 0},
                                            std::tuple{4, 2, 2}, std::tuple{3, 2, 0}})
    cases.push_back(pool_case({.N = 2, .C = 3, .H = 17, .W = 23, .kernel = kernel, .stride = stride, .pad = pad},
                              PoolValues::NonFinite));
  return cases;
}

// ------------------------------------------------------------------------------------------ relu, add
Case relu_add_case(const Shape& shape) {
  Case c;
  c.shape = to_string(shape);
  c.body = [=](Run& r) {
    Tensor host = Tensor::uniform(shape, r.rng(), -1, 1);
    for (int64_t i = 0; i < host.numel(); i += 7) host.data<float>()[i] = 0.0f;  // the kink: no gradient at 0
    const Tensor x = r.input(host), y = r.uniform(shape, -1, 1), dout = r.uniform(shape, -1, 1);
    Tensor out = r.output(shape), dinp = r.output(shape), sum = r.output(shape);
    ops::relu_forward(out, x, r.impl());
    r.check("relu_forward", "out", out, 1);
    ops::relu_backward(dinp, dout, out, r.impl());
    r.check("relu_backward", "dinp", dinp, 1);
    Tensor in_place = x.clone();  // out aliases inp (ReLU(inplace=True))
    ops::relu_forward(in_place, in_place, r.impl());
    r.check("relu_forward", "out=inp", in_place, 1);
    ops::add(sum, x, y, r.impl());
    r.check("add", "out", sum, 1);
    Tensor into_a = x.clone();  // out aliases a
    ops::add(into_a, into_a, y, r.impl());
    r.check("add", "out=a", into_a, 1);
    Tensor into_b = y.clone();  // out aliases b
    ops::add(into_b, x, into_b, r.impl());
    r.check("add", "out=b", into_b, 1);
  };
  return c;
}

// NaN and +-Inf planted in the input, NaN in the output gradient: as PyTorch, NaN in gives NaN out and the
// gradient passes where the output is NaN; a NaN gradient where the output is 0 is dropped (a select, not
// a product).
Case relu_nonfinite_case(const Shape& shape) {
  Case c;
  c.shape = to_string(shape) + " nan/inf";
  c.nonfinite = true;
  c.body = [=](Run& r) {
    Tensor x_host = Tensor::uniform(shape, r.rng(), -1, 1), dout_host = Tensor::uniform(shape, r.rng(), -1, 1);
    plant_nonfinite(x_host, r.rng());
    float* planted = x_host.data<float>();
    const int64_t n = x_host.numel();
    planted[0] = static_cast<float>(kNaN);  // every case, the shortest too, has NaN, +Inf and -Inf
    if (n > 1) planted[n - 1] = static_cast<float>(kInf);
    if (n > 2) planted[n / 2] = static_cast<float>(-kInf);
    for (int64_t i = 0; i < dout_host.numel(); i += 5) dout_host.data<float>()[i] = static_cast<float>(kNaN);
    const Tensor x = r.input(x_host), dout = r.input(dout_host);
    Tensor out = r.output(shape), dinp = r.output(shape);
    ops::relu_forward(out, x, r.impl());
    r.check("relu_forward", "out", out, 1);
    ops::relu_backward(dinp, dout, out, r.impl());
    r.check("relu_backward", "dinp", dinp, 1);
  };
  return c;
}

std::vector<Case> relu_add_cases() {
  std::vector<Case> cases;
  for (int64_t n : {1, 7, 1000, 100003}) cases.push_back(relu_add_case({n}));
  Rng rng(17);
  for (int i = 0; i < 8; ++i)
    cases.push_back(relu_add_case({pick(rng, 1, 16), pick(rng, 1, 32), pick(rng, 1, 17), pick(rng, 1, 17)}));
  for (int64_t n : {1, 7, 1000, 100003}) cases.push_back(relu_nonfinite_case({n}));
  cases.push_back(relu_nonfinite_case({3, 5, 17, 13}));
  return cases;
}

// ------------------------------------------------------------------------------------------ linear
Case linear_case(int N, int I, int O, bool with_bias, bool with_dinp) {
  Case c;
  c.shape = "N=" + std::to_string(N) + " I=" + std::to_string(I) + " O=" + std::to_string(O) +
            (with_bias ? " bias" : " no-bias") + (with_dinp ? "" : " no-dinp");
  c.body = [=](Run& r) {
    const Tensor inp = r.uniform({N, I}, -1, 1), weight = r.uniform({O, I}, -0.5, 0.5);
    const Tensor bias = r.uniform({O}, -1, 1), dout = r.uniform({N, O}, -1, 1);
    Tensor out = r.output({N, O});
    ops::linear_forward(out, inp, weight, with_bias ? &bias : nullptr, r.impl());
    r.check("linear_forward", "out", out, I);
    Tensor dinp = r.output({N, I}), dweight = r.param_grad("dweight", {O, I}), dbias = r.param_grad("dbias", {O});
    ops::linear_backward(with_dinp ? &dinp : nullptr, dweight, with_bias ? &dbias : nullptr, dout, inp, weight,
                         r.impl());
    if (with_dinp) r.check("linear_backward", "dinp", dinp, O);
    r.check("linear_backward", "dweight", dweight, N);
    r.check("linear_backward", "dbias", dbias, N);
  };
  return c;
}

std::vector<Case> linear_cases() {
  std::vector<Case> cases;
  cases.push_back(linear_case(64, 1152, 128, true, true));  // NoseNet-sized head
  cases.push_back(linear_case(256, 512, 512, true, true));  // enough tiles for the 128x128 configuration
  cases.push_back(linear_case(1, 1, 1, true, true));
  Rng rng(13);  // the old CPU suite's loop
  for (int trial = 0; trial < 30; ++trial) {
    const int N = 1 + int(rng.below(70)), I = 1 + int(rng.below(300)), O = 1 + int(rng.below(200));
    cases.push_back(linear_case(N, I, O, trial % 3 != 0, trial % 5 != 0));
  }
  Rng gpu_rng(99);  // the old GPU suite's loop
  for (int i = 0; i < 25; ++i)
    cases.push_back(linear_case(pick(gpu_rng, 1, 64), pick(gpu_rng, 1, 300), pick(gpu_rng, 1, 200), i % 3 != 0, true));
  cases.push_back(linear_case(32, 4096, 512, true, true));
  return cases;
}

// ------------------------------------------------------------------------------------------ batch norm
// The train-mode ops split as over ranks (SyncBatchNorm), here one rank's: count is this batch's N*HW.
// mask: null for plain batch norm, else the fused forward's output whose ReLU mask the backward applies.
void sync_batch_norm_body(Run& r, const Tensor& x, const Tensor& dout, const Tensor* mask, const Tensor& gamma,
                          const Tensor& beta, const Tensor& running_mean0, const Tensor& running_var0,
                          const ops::BatchNormDesc& d) {
  const double K = double(d.N) * d.HW;
  Tensor sum = r.output({d.C}), squares = r.output({d.C});
  ops::batch_norm2d_channel_sums(sum, x, nullptr, K, d, r.impl());
  r.check("batch_norm2d_channel_sums", "sum", sum, K);
  ops::batch_norm2d_channel_sums(squares, x, &sum, K, d, r.impl());
  r.check("batch_norm2d_channel_sums", "centred squares", squares, K);
  Tensor mean = r.output({d.C}), invstd = r.output({d.C});
  Tensor running_mean = running_mean0.clone(), running_var = running_var0.clone();
  ops::batch_norm2d_stats_from_sums(mean, invstd, running_mean, running_var, sum, squares, K, d, r.impl());
  r.check("batch_norm2d_stats_from_sums", "save_mean", mean, K);
  r.check("batch_norm2d_stats_from_sums", "save_invstd", invstd, K);
  r.check("batch_norm2d_stats_from_sums", "running_mean", running_mean, K);
  r.check("batch_norm2d_stats_from_sums", "running_var", running_var, K);
  Tensor out = r.output(x.shape());
  ops::batch_norm2d_normalize(out, x, gamma, beta, mean, invstd, mask != nullptr, d, r.impl());
  r.check("batch_norm2d_normalize", mask ? "out, relu" : "out", out, K);
  // their own sentinels: a case's parameter gradients are told apart by name
  Tensor sums = r.output({2 * d.C}), dgamma = r.param_grad("dgamma, split", {d.C}),
         dbeta = r.param_grad("dbeta, split", {d.C});
  ops::batch_norm2d_backward_sums(sums, dgamma, dbeta, dout, x, mask, mean, invstd, d, r.impl());
  r.check("batch_norm2d_backward_sums", mask ? "sums, relu" : "sums", sums, K);
  r.check("batch_norm2d_backward_sums", "dgamma, split", dgamma, K);
  r.check("batch_norm2d_backward_sums", "dbeta, split", dbeta, K);
  Tensor dinp = r.output(x.shape());
  ops::batch_norm2d_backward_apply(dinp, dout, x, mask, gamma, mean, invstd, sums, K, d, r.impl());
  r.check("batch_norm2d_backward_apply", mask ? "dinp, relu" : "dinp", dinp, K);
}

// offset: the inputs' mean (statistics must also be right away from zero); dead: channel 0 constant,
// variance 0, so 1/sqrt(var + eps) is at its largest.
Case batch_norm_case(int N, int C, int H, int W, double offset, bool dead) {
  Case c;
  char text[128];
  std::snprintf(text, sizeof text, "N=%d C=%d H=%d W=%d offset=%g%s", N, C, H, W, offset, dead ? " dead-channel" : "");
  c.shape = text;
  c.body = [=](Run& r) {
    const ops::BatchNormDesc d{.N = N, .C = C, .HW = H * W};
    const Shape shape{N, C, H, W};
    Tensor host = Tensor::uniform(shape, r.rng(), offset - 1, offset + 1);
    if (dead)
      for (int n = 0; n < N; ++n)
        for (int i = 0; i < H * W; ++i) host.data<float>()[int64_t(n) * C * H * W + i] = static_cast<float>(offset + 0.25);
    const Tensor x = r.input(host), dout = r.uniform(shape, -1, 1);
    const Tensor gamma = r.uniform({C}, 0.5, 1.5), beta = r.uniform({C}, -0.5, 0.5);
    const Tensor running_mean0 = r.uniform({C}, -0.2, 0.2), running_var0 = r.uniform({C}, 0.5, 2);
    const double K = double(N) * H * W;
    Tensor out = r.output(shape), mean = r.output({C}), invstd = r.output({C});
    Tensor running_mean = running_mean0.clone(), running_var = running_var0.clone();
    ops::batch_norm2d_forward_train(out, mean, invstd, running_mean, running_var, x, gamma, beta, d, r.impl());
    r.check("batch_norm2d_train", "out", out, K);
    r.check("batch_norm2d_train", "save_mean", mean, K);
    r.check("batch_norm2d_train", "save_invstd", invstd, K);
    r.check("batch_norm2d_train", "running_mean", running_mean, K);
    r.check("batch_norm2d_train", "running_var", running_var, K);
    Tensor eval = r.output(shape);
    ops::batch_norm2d_forward_eval(eval, x, gamma, beta, running_mean0, running_var0, d, r.impl());
    r.check("batch_norm2d_eval", "out", eval, 1);
    Tensor dinp = r.output(shape), dgamma = r.param_grad("dgamma", {C}), dbeta = r.param_grad("dbeta", {C});
    ops::batch_norm2d_backward(dinp, dgamma, dbeta, dout, x, gamma, mean, invstd, d, r.impl());
    r.check("batch_norm2d_backward", "dinp", dinp, K);
    r.check("batch_norm2d_backward", "dgamma", dgamma, K);
    r.check("batch_norm2d_backward", "dbeta", dbeta, K);
    sync_batch_norm_body(r, x, dout, nullptr, gamma, beta, running_mean0, running_var0, d);
  };
  return c;
}

std::vector<Case> batch_norm_cases() {
  std::vector<Case> cases;
  cases.push_back(batch_norm_case(8, 4, 64, 64, 0.5, false));  // several chunks per channel in the fast paths
  cases.push_back(batch_norm_case(32, 64, 7, 7, 0.5, false));  // ResNet's last stage
  cases.push_back(batch_norm_case(4, 3, 5, 6, 3.0, true));
  cases.push_back(batch_norm_case(16, 8, 9, 9, 0.0, true));
  Rng rng(17);  // the old CPU suite's loop
  for (int trial = 0; trial < 16; ++trial) {
    const int N = 1 + int(rng.below(6)), C = 1 + int(rng.below(12)), HW = 1 + int(rng.below(200));
    if (N * HW < 2) continue;  // a single value per channel has no variance to normalise by
    cases.push_back(batch_norm_case(N, C, HW, 1, trial % 2 ? 3.0 : 0.0, false));
  }
  Rng gpu_rng(23);  // the old GPU suite's loop
  for (int i = 0; i < 12; ++i) {
    const int N = pick(gpu_rng, 1, 32), C = pick(gpu_rng, 1, 16), H = pick(gpu_rng, 1, 15), W = pick(gpu_rng, 1, 15);
    if (N * H * W < 2) continue;
    cases.push_back(batch_norm_case(N, C, H, W, 0.5, false));
  }
  return cases;
}

// ------------------------------------------------------------------------------------------ batch norm + ReLU
// The fused op, batch_norm2d_relu_*, against the double reference of the same op. The backward's `out`
// (where the ReLU passed) is the oracle's forward output rounded to float32, the same tensor on every row:
// a row's own forward may round a value near 0 to the other side of it, and that is a mask difference,
// not an error of the backward. gamma is negative in every other channel, so that the ReLU cuts either tail.
struct BnReluInputs {
  Tensor x, dout, gamma, beta, running_mean0, running_var0;  // this run's
  Tensor x_host, gamma_host, beta_host;                      // float32 on the host, the same on every run
};

BnReluInputs bn_relu_inputs(Run& r, const Shape& shape, double offset, bool dead) {
  const int N = shape[0], C = shape[1], HW = shape[2] * shape[3];
  BnReluInputs in;
  in.x_host = Tensor::uniform(shape, r.rng(), offset - 1, offset + 1);
  if (dead)
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) in.x_host.data<float>()[int64_t(n) * C * HW + i] = static_cast<float>(offset + 0.25);
  in.gamma_host = Tensor::uniform({C}, r.rng(), 0.5, 1.5);
  for (int c = 1; c < C; c += 2) in.gamma_host.data<float>()[c] *= -1.0f;
  in.beta_host = Tensor::uniform({C}, r.rng(), -0.5, 0.5);
  in.x = r.input(in.x_host);
  in.gamma = r.input(in.gamma_host);
  in.beta = r.input(in.beta_host);
  in.running_mean0 = r.uniform({C}, -0.2, 0.2);
  in.running_var0 = r.uniform({C}, 0.5, 2);
  return in;
}

// The oracle's fused forward on the host (double), rounded to float32: the backward's mask on every row.
Tensor bn_relu_mask_host(const BnReluInputs& in, const ops::BatchNormDesc& d) {
  const Tensor x = in.x_host.to(DType::F64), gamma = in.gamma_host.to(DType::F64), beta = in.beta_host.to(DType::F64);
  Tensor out = Tensor::zeros(x.shape(), Device::CPU, DType::F64), mean = Tensor::zeros({d.C}, Device::CPU, DType::F64);
  Tensor invstd = mean.clone(), running_mean = mean.clone(), running_var = mean.clone();
  ops::batch_norm2d_relu_forward_train(out, mean, invstd, running_mean, running_var, x, gamma, beta, d, Impl::Ref);
  return out.to(DType::F32);
}

// The forward (train and eval) and the backward of one case; dout_host: the output gradient (float32, host).
void bn_relu_body(Run& r, const BnReluInputs& in, const Tensor& dout_host, const Tensor& mask_host,
                  const ops::BatchNormDesc& d) {
  const Shape shape = in.x.shape();
  const double K = double(d.N) * d.HW;
  Tensor out = r.output(shape), mean = r.output({d.C}), invstd = r.output({d.C});
  Tensor running_mean = in.running_mean0.clone(), running_var = in.running_var0.clone();
  ops::batch_norm2d_relu_forward_train(out, mean, invstd, running_mean, running_var, in.x, in.gamma, in.beta, d,
                                       r.impl());
  r.check("batch_norm2d_relu_train", "out", out, K);
  r.check("batch_norm2d_relu_train", "save_mean", mean, K);
  r.check("batch_norm2d_relu_train", "save_invstd", invstd, K);
  r.check("batch_norm2d_relu_train", "running_mean", running_mean, K);
  r.check("batch_norm2d_relu_train", "running_var", running_var, K);
  Tensor eval = r.output(shape);
  ops::batch_norm2d_relu_forward_eval(eval, in.x, in.gamma, in.beta, in.running_mean0, in.running_var0, d, r.impl());
  r.check("batch_norm2d_relu_eval", "out", eval, 1);
  const Tensor mask = r.input(mask_host), dout = r.input(dout_host);
  Tensor dinp = r.output(shape), dgamma = r.param_grad("dgamma", {d.C}), dbeta = r.param_grad("dbeta", {d.C});
  ops::batch_norm2d_relu_backward(dinp, dgamma, dbeta, dout, in.x, mask, in.gamma, mean, invstd, d, r.impl());
  r.check("batch_norm2d_relu_backward", "dinp", dinp, K);
  r.check("batch_norm2d_relu_backward", "dgamma", dgamma, K);
  r.check("batch_norm2d_relu_backward", "dbeta", dbeta, K);
  sync_batch_norm_body(r, in.x, dout, &mask, in.gamma, in.beta, in.running_mean0, in.running_var0, d);
}

Case batch_norm_relu_case(int N, int C, int H, int W, double offset, bool dead) {
  Case c;
  char text[128];
  std::snprintf(text, sizeof text, "N=%d C=%d H=%d W=%d offset=%g%s", N, C, H, W, offset, dead ? " dead-channel" : "");
  c.shape = text;
  c.body = [=](Run& r) {
    const ops::BatchNormDesc d{.N = N, .C = C, .HW = H * W};
    const BnReluInputs in = bn_relu_inputs(r, {N, C, H, W}, offset, dead);
    const Tensor dout_host = Tensor::uniform({N, C, H, W}, r.rng(), -1, 1);
    bn_relu_body(r, in, dout_host, bn_relu_mask_host(in, d), d);
  };
  return c;
}

// NaN and +-Inf planted as PyTorch's BatchNorm2d then ReLU would see them: a channel holding NaN (0), +Inf
// (1), -Inf (2) or both infinities (3) has NaN statistics, so NaN outputs, a gradient that passes
// everywhere, and NaN dinp, dgamma and dbeta. In channel 4 NaN output gradients sit where the ReLU gave 0:
// dropped (a select), the channel stays finite. In channel 5 one sits where the ReLU passed: that channel's
// sums, dgamma, dbeta and dinp are NaN. The eval forward sees the infinities themselves (finite running
// statistics): +-Inf out before the ReLU, 0 or +Inf after it.
Case batch_norm_relu_nonfinite_case(int N, int C, int H, int W) {
  Case c;
  char text[128];
  std::snprintf(text, sizeof text, "N=%d C=%d H=%d W=%d nan/inf", N, C, H, W);
  c.shape = text;
  c.nonfinite = true;
  c.body = [=](Run& r) {
    const ops::BatchNormDesc d{.N = N, .C = C, .HW = H * W};
    const int HW = H * W;
    BnReluInputs in = bn_relu_inputs(r, {N, C, H, W}, 0.5, false);
    const auto at = [&](int n, int channel, int i) { return (int64_t(n) * C + channel) * HW + i; };
    float* x = in.x_host.data<float>();
    const float nan = static_cast<float>(kNaN), inf = static_cast<float>(kInf);
    x[at(0, 0, 0)] = nan;
    x[at(N - 1, 1, HW - 1)] = inf;
    x[at(0, 2, HW / 2)] = -inf;
    x[at(0, 3, 0)] = inf;
    x[at(N - 1, 3, HW - 1)] = -inf;
    in.x = r.input(in.x_host);
    const Tensor mask_host = bn_relu_mask_host(in, d);
    Tensor dout_host = Tensor::uniform({N, C, H, W}, r.rng(), -1, 1);
    float* dout = dout_host.data<float>();
    const float* mask = mask_host.data<float>();
    bool passed_one = false;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) {
        if (mask[at(n, 4, i)] == 0.0f && (n + i) % 3 == 0) dout[at(n, 4, i)] = nan;  // dropped
        if (!passed_one && mask[at(n, 5, i)] > 0.0f) {  // passed: channel 5 becomes NaN
          dout[at(n, 5, i)] = nan;
          passed_one = true;
        }
        if ((n + i) % 4 == 0) dout[at(n, 0, i)] = nan;  // in an all-NaN channel: NaN either way
      }
    REQUIRE(passed_one);
    bn_relu_body(r, in, dout_host, mask_host, d);
  };
  return c;
}

std::vector<Case> batch_norm_relu_cases() {
  std::vector<Case> cases;
  cases.push_back(batch_norm_relu_case(8, 4, 64, 64, 0.5, false));  // several chunks per channel in the fast paths
  cases.push_back(batch_norm_relu_case(32, 64, 7, 7, 0.5, false));  // ResNet's last stage
  cases.push_back(batch_norm_relu_case(4, 3, 5, 6, 3.0, true));
  cases.push_back(batch_norm_relu_case(16, 8, 9, 9, 0.0, true));
  cases.push_back(batch_norm_relu_case(2, 1, 1, 2, 0.0, false));  // two values per channel: the least there is
  Rng rng(29);
  for (int i = 0; i < 12; ++i) {
    const int N = pick(rng, 1, 16), C = pick(rng, 1, 16), H = pick(rng, 1, 15), W = pick(rng, 1, 15);
    if (N * H * W < 2) continue;
    cases.push_back(batch_norm_relu_case(N, C, H, W, i % 3 == 0 ? 2.0 : 0.0, i % 4 == 0));
  }
  cases.push_back(batch_norm_relu_nonfinite_case(3, 6, 5, 7));
  cases.push_back(batch_norm_relu_nonfinite_case(2, 8, 16, 16));
  return cases;
}

// ------------------------------------------------------------------------------------------ global avg pool
Case gap_case(const Shape& shape) {
  Case c;
  c.shape = to_string(shape);
  c.body = [=](Run& r) {
    const Shape pooled{shape[0], shape[1]};
    const Tensor inp = r.uniform(shape, -1, 1), dout = r.uniform(pooled, -1, 1);
    Tensor out = r.output(pooled), dinp = r.output(shape);
    ops::global_avg_pool_forward(out, inp, r.impl());
    r.check("global_avg_pool_forward", "out", out, double(shape[2]) * shape[3]);
    ops::global_avg_pool_backward(dinp, dout, r.impl());
    r.check("global_avg_pool_backward", "dinp", dinp, 1);
  };
  return c;
}

std::vector<Case> gap_cases() {
  std::vector<Case> cases;
  for (const Shape& shape : {Shape{1, 1, 1, 1}, Shape{2, 3, 7, 7}, Shape{16, 512, 7, 7}, Shape{3, 5, 1, 9}})
    cases.push_back(gap_case(shape));
  Rng rng(19);
  for (int i = 0; i < 8; ++i)
    cases.push_back(gap_case({pick(rng, 1, 16), pick(rng, 1, 32), pick(rng, 1, 17), pick(rng, 1, 17)}));
  return cases;
}

// ------------------------------------------------------------------------------------------ upsampling
Case upsample_case(const ops::UpsampleDesc& d) {
  Case c;
  c.shape = "N=" + std::to_string(d.N) + " C=" + std::to_string(d.C) + " H=" + std::to_string(d.H) +
            " W=" + std::to_string(d.W) + " scale=" + std::to_string(d.scale);
  c.repeat = true;
  c.body = [=](Run& r) {
    const Shape in_shape{d.N, d.C, d.H, d.W}, out_shape{d.N, d.C, d.OH(), d.OW()};
    const Tensor inp = r.uniform(in_shape, -1, 1), dout = r.uniform(out_shape, -1, 1);
    Tensor out = r.output(out_shape), dinp = r.output(in_shape);
    ops::upsample_nearest2d_forward(out, inp, d, r.impl());
    r.check("upsample_nearest2d_forward", "out", out, 1);
    ops::upsample_nearest2d_backward(dinp, dout, d, r.impl());
    r.check("upsample_nearest2d_backward", "dinp", dinp, double(d.scale) * d.scale);
  };
  return c;
}

std::vector<Case> upsample_cases() {
  std::vector<Case> cases;
  for (const ops::UpsampleDesc& d : {ops::UpsampleDesc{.N = 2, .C = 16, .H = 5, .W = 5, .scale = 2},
                                     ops::UpsampleDesc{.N = 2, .C = 16, .H = 5, .W = 5, .scale = 4},
                                     ops::UpsampleDesc{.N = 2, .C = 3, .H = 5, .W = 7, .scale = 2},
                                     ops::UpsampleDesc{.N = 2, .C = 3, .H = 5, .W = 7, .scale = 3},
                                     ops::UpsampleDesc{.N = 1, .C = 1, .H = 1, .W = 1, .scale = 1},
                                     ops::UpsampleDesc{.N = 16, .C = 64, .H = 7, .W = 7, .scale = 2}})
    cases.push_back(upsample_case(d));
  Rng rng(29);
  for (int i = 0; i < 8; ++i)
    cases.push_back(upsample_case({.N = pick(rng, 1, 8), .C = pick(rng, 1, 16), .H = pick(rng, 1, 13),
                                   .W = pick(rng, 1, 13), .scale = pick(rng, 1, 5)}));
  return cases;
}

// ------------------------------------------------------------------------------------------ soft-argmax
// Scores uniform in +-3 (each map's softmax neither flat nor one-hot, so that the points spread and the
// gradient's terms do not all vanish), or with NaN, +Inf and -Inf planted map by map.
Case soft_argmax_case(const ops::SoftArgmaxDesc& d, bool nonfinite) {
  Case c;
  char text[160];
  std::snprintf(text, sizeof text, "N=%d K=%d H=%d W=%d beta=%g%s", d.N, d.K, d.H, d.W, d.beta,
                nonfinite ? " nan/inf" : "");
  c.shape = text;
  c.repeat = true;
  c.nonfinite = nonfinite;
  c.body = [=](Run& r) {
    const int HW = d.H * d.W, maps = d.N * d.K;
    const Shape shape{d.N, d.K, d.H, d.W}, points{d.N, 2 * d.K};
    Tensor host = Tensor::uniform(shape, r.rng(), -3, 3);
    if (nonfinite) {  // maps 0, 1, 2 mod 4: one NaN, one +Inf (both: the map is NaN), one -Inf (probability 0)
      float* x = host.data<float>();
      const float planted[] = {float(kNaN), float(kInf), float(-kInf)};
      for (int map = 0; map < maps; ++map)
        if (map % 4 < 3) x[int64_t(map) * HW + int64_t(r.rng().below(HW))] = planted[map % 4];
      if (maps > 4)  // the last map all -Inf: NaN, as torch.softmax
        for (int cell = 0; cell < HW; ++cell) x[int64_t(maps - 1) * HW + cell] = float(-kInf);
    }
    const Tensor inp = r.input(host), dout = r.uniform(points, -1, 1);
    Tensor out = r.output(points), probs = r.output(shape), dinp = r.output(shape);
    ops::soft_argmax2d_forward(out, probs, inp, d, r.impl());
    r.check("soft_argmax2d_forward", "probs", probs, HW);
    r.check("soft_argmax2d_forward", "out", out, HW);
    ops::soft_argmax2d_backward(dinp, dout, probs, out, d, r.impl());
    r.check("soft_argmax2d_backward", "dinp", dinp, HW);
  };
  return c;
}

std::vector<Case> soft_argmax_cases() {
  std::vector<Case> cases;
  for (const ops::SoftArgmaxDesc& d :
       {ops::SoftArgmaxDesc{.N = 2, .K = 3, .H = 5, .W = 7}, ops::SoftArgmaxDesc{.N = 4, .K = 68, .H = 20, .W = 20},
        ops::SoftArgmaxDesc{.N = 2, .K = 5, .H = 16, .W = 12, .beta = 2.5},
        ops::SoftArgmaxDesc{.N = 3, .K = 2, .H = 1, .W = 9, .beta = 0.5},
        ops::SoftArgmaxDesc{.N = 1, .K = 1, .H = 1, .W = 1},  // one cell: probability 1 at (0, 0), no gradient
        ops::SoftArgmaxDesc{.N = 1, .K = 2, .H = 64, .W = 48, .beta = 4}})  // 3072 cells: many per CUDA thread
    cases.push_back(soft_argmax_case(d, false));
  Rng rng(31);
  const double betas[] = {0.5, 1, 2.5};
  for (int i = 0; i < 8; ++i)
    cases.push_back(soft_argmax_case({.N = pick(rng, 1, 8), .K = pick(rng, 1, 20), .H = pick(rng, 1, 24),
                                      .W = pick(rng, 1, 24), .beta = betas[i % 3]},
                                     false));
  for (const ops::SoftArgmaxDesc& d :
       {ops::SoftArgmaxDesc{.N = 2, .K = 3, .H = 5, .W = 7}, ops::SoftArgmaxDesc{.N = 2, .K = 8, .H = 20, .W = 20}})
    cases.push_back(soft_argmax_case(d, true));
  return cases;
}

// ------------------------------------------------------------------------------------------ losses
Case loss_case(int64_t n) {
  Case c;
  c.shape = "n=" + std::to_string(n);
  c.repeat = true;
  c.body = [=](Run& r) {
    const double dloss = 0.75;
    Tensor pred_host = Tensor::uniform({n}, r.rng(), -1, 1), target_host = Tensor::uniform({n}, r.rng(), -1, 1);
    for (int64_t i = 0; i < n; i += 5) target_host.data<float>()[i] = pred_host.data<float>()[i];  // L1's sign(0) = 0
    const Tensor pred = r.input(pred_host), target = r.input(target_host);
    Tensor mse = r.output({1}), l1 = r.output({1}), dmse = r.output({n}), dl1 = r.output({n});
    ops::mse_loss_forward(mse, pred, target, r.impl());
    r.check("mse_loss_forward", "loss", mse, double(n));
    ops::mse_loss_backward(dmse, pred, target, dloss, r.impl());
    r.check("mse_loss_backward", "dpred", dmse, 1);
    ops::l1_loss_forward(l1, pred, target, r.impl());
    r.check("l1_loss_forward", "loss", l1, double(n));
    ops::l1_loss_backward(dl1, pred, target, dloss, r.impl());
    r.check("l1_loss_backward", "dpred", dl1, 1);
    // w and epsilon put |pred - target| (up to 2) on both pieces of the Wing loss
    const ops::WingDesc wing{.w = 0.5, .epsilon = 0.1};
    Tensor wing_loss = r.output({1}), dwing = r.output({n});
    ops::wing_loss_forward(wing_loss, pred, target, wing, r.impl());
    r.check("wing_loss_forward", "loss", wing_loss, double(n));
    ops::wing_loss_backward(dwing, pred, target, wing, dloss, r.impl());
    r.check("wing_loss_backward", "dpred", dwing, 1);
  };
  return c;
}

std::vector<Case> loss_cases() {
  std::vector<Case> cases;
  for (int64_t n : {1L, 5L, 7L, 136L, 232L, 64L * 136, 70001L, 300001L}) cases.push_back(loss_case(n));
  return cases;
}

// ------------------------------------------------------------------------------------------ optimizers
constexpr int kSteps = 5;

Case adam_case(const std::string& name, int64_t n, double weight_decay, bool decoupled) {
  Case c;
  c.shape = name + " n=" + std::to_string(n) + " " + std::to_string(kSteps) + " steps";
  c.body = [=](Run& r) {
    Tensor param = r.uniform({n}, -1, 1), m = r.input(Tensor::zeros({n})), v = r.input(Tensor::zeros({n}));
    for (int step = 1; step <= kSteps; ++step) {
      const Tensor grad = r.uniform({n}, -1, 1);
      const ops::AdamDesc d{.lr = 1e-2, .weight_decay = weight_decay, .decoupled_weight_decay = decoupled,
                            .step = step};
      ops::adam_update(param, grad, m, v, d, r.impl());
    }
    r.check("adam_update", "param", param, kSteps);
    r.check("adam_update", "m", m, kSteps);
    r.check("adam_update", "v", v, kSteps);
  };
  return c;
}

Case sgd_case(const std::string& name, int64_t n, double momentum, double dampening, double weight_decay,
              bool nesterov) {
  Case c;
  c.shape = name + " n=" + std::to_string(n) + " " + std::to_string(kSteps) + " steps";
  c.body = [=](Run& r) {
    // the buffer starts as noise: the first step must set it to the gradient
    Tensor param = r.uniform({n}, -1, 1), buffer = r.uniform({n}, -1, 1);
    for (int step = 1; step <= kSteps; ++step) {
      const Tensor grad = r.uniform({n}, -1, 1);
      const ops::SgdDesc d{.lr = 0.05, .momentum = momentum, .dampening = dampening, .weight_decay = weight_decay,
                           .nesterov = nesterov, .first_step = step == 1};
      ops::sgd_update(param, grad, buffer, d, r.impl());
    }
    r.check("sgd_update", "param", param, kSteps);
    if (momentum != 0) r.check("sgd_update", "momentum_buffer", buffer, kSteps);
  };
  return c;
}

std::vector<Case> optimizer_cases() {
  std::vector<Case> cases;
  for (int64_t n : {10007L, 50000L}) {
    cases.push_back(adam_case("adam", n, 0.0, false));
    cases.push_back(adam_case("adam+l2", n, 0.01, false));
    cases.push_back(adam_case("adamw", n, 0.05, true));
    cases.push_back(adam_case("adamw no decay", n, 0.0, true));
    cases.push_back(sgd_case("sgd", n, 0.0, 0.0, 0.0, false));
    cases.push_back(sgd_case("sgd+l2", n, 0.0, 0.0, 1e-3, false));
    cases.push_back(sgd_case("momentum", n, 0.9, 0.0, 1e-3, false));
    cases.push_back(sgd_case("momentum+dampening", n, 0.9, 0.1, 0.0, false));
    cases.push_back(sgd_case("nesterov", n, 0.9, 0.0, 1e-3, true));
  }
  return cases;
}

}  // namespace

// ------------------------------------------------------------------------------------------ the rule itself
TEST_CASE("the tolerance rule fails planted errors") {
  Rng rng(7);
  const Tensor want = Tensor::uniform({3, 4, 5}, rng, -1, 1, DType::F64);
  const std::vector<double> w = want.to_double_vector();
  const double K = 100;
  const double tol = parity::tolerance(1, K, parity::compare(w, w, K, 1).scale);
  CHECK(parity::compare(w, w, K, 1).ok);
  CHECK(parity::compare(w, w, K, 1).ratio == 0);

  SUBCASE("one wrong element fails, one within tolerance passes") {
    std::vector<double> got = w;
    got[17] += 2 * tol;
    const parity::Comparison bad = parity::compare(got, w, K, 1);
    CHECK_FALSE(bad.ok);
    CHECK(bad.ratio == doctest::Approx(2).epsilon(1e-6));
    CHECK(bad.problem.find("element 17") != std::string::npos);
    got[17] = w[17] + 0.5 * tol;
    CHECK(parity::compare(got, w, K, 1).ok);
    CHECK_FALSE(parity::compare(got, w, K, 0.4).ok);  // the factor scales the tolerance
  }
  SUBCASE("NaN or Inf on either side fails, and NaN against a NaN oracle fails") {
    std::vector<double> nan = w;
    nan[3] = kNaN;
    CHECK_FALSE(parity::compare(nan, w, K, 1).ok);
    CHECK_FALSE(parity::compare(w, nan, K, 1).ok);
    CHECK_FALSE(parity::compare(nan, nan, K, 1e30).ok);
    const std::vector<double> all_nan(w.size(), kNaN);
    CHECK_FALSE(parity::compare(all_nan, all_nan, K, 1).ok);
    std::vector<double> inf = w;
    inf[0] = std::numeric_limits<double>::infinity();
    CHECK_FALSE(parity::compare(inf, w, K, 1).ok);
  }
  SUBCASE("compare_nonfinite: NaN and Inf must be matched in place, and only there") {
    std::vector<double> want = w;
    want[2] = kNaN;
    want[5] = kInf;
    want[8] = -kInf;
    CHECK(parity::compare_nonfinite(want, want, K, 1).ok);
    CHECK_FALSE(parity::compare(want, want, K, 1).ok);  // the plain rule refuses them
    const double finite_tol = parity::compare_nonfinite(want, want, K, 1).tolerance;
    CHECK(finite_tol > 0);
    const auto fails = [&](std::size_t at, double value) {
      std::vector<double> got = want;
      got[at] = value;
      return !parity::compare_nonfinite(got, want, K, 1).ok;
    };
    CHECK(fails(2, 0.5));             // a number where NaN is due
    CHECK(fails(2, kInf));            // an infinity where NaN is due
    CHECK(fails(3, kNaN));            // NaN where a number is due
    CHECK(fails(5, -kInf));           // the wrong infinity
    CHECK(fails(5, kNaN));            // NaN for an infinity
    CHECK(fails(5, 1e30));            // a large number for an infinity
    CHECK(fails(9, w[9] + 2 * finite_tol));  // the finite elements are still held to the rule
    CHECK_FALSE(fails(9, w[9] + 0.5 * finite_tol));
  }
  SUBCASE("an all-zero expectation must be matched exactly") {
    const std::vector<double> zeros(10, 0.0);
    std::vector<double> got = zeros;
    CHECK(parity::compare(got, zeros, K, 1).ok);
    got[4] = 1e-30;
    CHECK_FALSE(parity::compare(got, zeros, K, 1).ok);
  }
  SUBCASE("a 1e-3 relative error on a tensor of scale 1e-6 fails (the old 1e-4*(1+max) rule passed it)") {
    std::vector<double> tiny = w, got;
    for (double& v : tiny) v *= 1e-6;
    got = tiny;
    got[9] *= 1 + 1e-3;
    got[9] += 1e-9;  // in case element 9 is near zero: an error of 1e-3 of the scale either way
    CHECK_FALSE(parity::compare(got, tiny, K, 1).ok);
    CHECK(std::abs(got[9] - tiny[9]) <= 1e-4 * (1 + 1e-6));  // what the old rule allowed
  }
  SUBCASE("a size mismatch fails") {
    CHECK_FALSE(parity::compare(std::vector<double>(w.begin(), w.end() - 1), w, K, 1).ok);
  }
}

TEST_CASE("the sentinel catches a parameter gradient that overwrites instead of accumulating, at any scale") {
  // dweight of a conv whose gradient is in the thousands: a fixed 0.5 sentinel is within the old rule's
  // 1e-4 * (1 + max) of the right answer; a sentinel of the gradient's own size is not within the new one
  Rng rng(41);
  const ops::ConvDesc d{.N = 8, .C = 16, .H = 32, .W = 32, .K = 16, .R = 3, .S = 3, .stride = 1, .pad = 1};
  const Tensor inp = Tensor::uniform({d.N, d.C, d.H, d.W}, rng, -10, 10);
  const Tensor weight = Tensor::uniform({d.K, d.C, d.R, d.S}, rng, -1, 1);
  const Tensor dout = Tensor::uniform({d.N, d.K, d.P(), d.Q()}, rng, -10, 10);
  const Shape w_shape = weight.shape();
  const double K = double(d.N) * d.P() * d.Q();
  Tensor grad = Tensor::zeros(w_shape, Device::CPU, DType::F64);
  ops::conv2d_backward(nullptr, grad, nullptr, dout.to(DType::F64), inp.to(DType::F64), weight.to(DType::F64), d,
                       Impl::Ref);
  const std::vector<double> g = grad.to_double_vector();
  double size = 0;
  for (double v : g) size = std::max(size, std::abs(v));
  REQUIRE(0.5 <= 1e-4 * (1 + size));  // the premise: the old fixed sentinel was invisible at this scale
  const Tensor sentinel = Tensor::uniform(w_shape, rng, -size, size);
  std::vector<double> want = g;
  const std::vector<double> s = sentinel.to_double_vector();
  for (std::size_t i = 0; i < want.size(); ++i) want[i] += s[i];
  Tensor accumulated = sentinel.clone(), overwritten = sentinel.clone();
  ops::conv2d_backward(nullptr, accumulated, nullptr, dout, inp, weight, d, Impl::Fast);
  overwritten.zero_();  // what a kernel that assigns would leave: the gradient alone
  ops::conv2d_backward(nullptr, overwritten, nullptr, dout, inp, weight, d, Impl::Fast);
  const parity::Comparison right = parity::compare(accumulated.to_double_vector(), want, K, 1);
  const parity::Comparison wrong = parity::compare(overwritten.to_double_vector(), want, K, 1);
  MESSAGE("gradient scale ", size, ": accumulating ratio ", right.ratio, ", overwriting ratio ", wrong.ratio);
  CHECK(right.ok);
  CHECK_FALSE(wrong.ok);
}

// ------------------------------------------------------------------------------------------ the tables
TEST_CASE("the CUDA device query either works or reports no device") {
  const std::string failure = cuda_memory::device_query_failure();
  INFO("the CUDA device query failed: ", failure);
  CHECK(failure.empty());
}

TEST_CASE("parity: conv2d") { run_table("conv2d", conv_cases(), 1); }
TEST_CASE("parity: conv2d with a batch norm folded in") { run_table("conv2d folded", fold_cases(), 23); }
TEST_CASE("parity: conv2d by Winograd, forced on every 3x3 stride-1 shape") {
  const cpu::fast::ConvAlgo saved = cpu::fast::conv_algo();
  cpu::fast::set_conv_algo(cpu::fast::ConvAlgo::winograd);
  run_table("conv2d winograd", winograd_cases(), 9);
  cpu::fast::set_conv_algo(saved);
}
TEST_CASE("Winograd's tile: 4x4 where at least half its points lie in the output, else 2x2; the rule takes either") {
  using cpu::fast::ConvDirection;
  const auto square = [](int C, int size, int pad) {
    return ops::ConvDesc{.N = 16, .C = C, .H = size, .W = size, .K = C, .R = 3, .S = 3, .stride = 1, .pad = pad};
  };
  CHECK(cpu::fast::winograd_tile(square(64, 40, 1)) == 4);
  CHECK(cpu::fast::winograd_tile(square(512, 7, 1)) == 4);   // 49 of 64 points
  CHECK(cpu::fast::winograd_tile(square(256, 10, 1)) == 4);  // 100 of 144
  CHECK(cpu::fast::winograd_tile(square(512, 5, 1)) == 2);   // 25 of 64 in 4x4 tiles, of 36 in 2x2
  CHECK(cpu::fast::winograd_tile(square(8, 3, 0)) == 2);
  for (ConvDirection direction : {ConvDirection::forward, ConvDirection::data_gradient, ConvDirection::weight_gradient}) {
    CHECK(cpu::fast::winograd_pays(square(512, 5, 1), direction));   // part 3's last stage
    CHECK(cpu::fast::winograd_pays(square(128, 20, 1), direction));
    CHECK_FALSE(cpu::fast::winograd_pays(square(512, 1, 1), direction));  // a 1x1 map: 1 point of 4
    CHECK_FALSE(cpu::fast::winograd_pays(square(8, 20, 1), direction));   // too few channels
  }
}
TEST_CASE("parity: conv2d by the direct convolution, forced on every shape it applies to") {
  const cpu::fast::ConvAlgo saved = cpu::fast::conv_algo();
  cpu::fast::set_conv_algo(cpu::fast::ConvAlgo::direct);
  std::vector<Case> cases = conv_cases();
  for (Case& c : winograd_cases()) cases.push_back(c);
  run_table("conv2d direct", cases, 12);
  cpu::fast::set_conv_algo(saved);
}
TEST_CASE("parity: max_pool2d") { run_table("max_pool2d", pool_cases(), 2); }
TEST_CASE("parity: relu and add") { run_table("relu/add", relu_add_cases(), 3); }
TEST_CASE("parity: linear") { run_table("linear", linear_cases(), 4); }
TEST_CASE("parity: batch_norm2d") { run_table("batch_norm2d", batch_norm_cases(), 5); }
TEST_CASE("parity: batch_norm2d_relu (fused)") { run_table("batch_norm2d_relu", batch_norm_relu_cases(), 9); }
TEST_CASE("parity: global_avg_pool") { run_table("global_avg_pool", gap_cases(), 6); }
TEST_CASE("parity: mse and l1 losses") { run_table("losses", loss_cases(), 7); }
TEST_CASE("parity: upsample_nearest2d") { run_table("upsample_nearest2d", upsample_cases(), 10); }
TEST_CASE("parity: soft_argmax2d") { run_table("soft_argmax2d", soft_argmax_cases(), 11); }
TEST_CASE("parity: adam, adamw and sgd") { run_table("optimizers", optimizer_cases(), 8); }

// ------------------------------------------------------------------------------------------ NaN, as PyTorch
TEST_CASE("ReLU and max pooling give PyTorch's results on NaN and Inf, on every row") {
  // Expected values printed by PyTorch 1.13 (CPU): torch.relu and F.max_pool2d forward, then backward
  // with the gradients given here. The parity tables above check every row against the reference on
  // random planted NaN; these pin the reference itself to PyTorch.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  struct PoolFixture {
    ops::PoolDesc d;
    std::vector<float> x, out, dinp;  // dout = 1, 2, 3, ... over the outputs
  };
  const std::vector<PoolFixture> pools = {
      // 2x2 windows: one NaN; two NaNs (the last wins); +Inf then NaN; NaN then +Inf; all -Inf; no NaN
      {{.N = 1, .C = 1, .H = 2, .W = 12, .kernel = 2, .stride = 2, .pad = 0},
       {1, nan, nan, 1, inf, nan, nan, inf, -inf, -inf, 0.5, 2, 3, 4, 2, nan, 1, 2, 1, 2, -inf, -inf, 1, -1},
       {nan, nan, nan, nan, -inf, 2},
       {0, 1, 0, 0, 0, 3, 4, 0, 5, 0, 0, 6, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}},
      // 3x3/2 pad 1: NaN beside padding, one NaN in two windows, two NaNs in one window
      {{.N = 1, .C = 1, .H = 3, .W = 3, .kernel = 3, .stride = 2, .pad = 1},
       {nan, 1, 2, 3, 4, 5, 6, 7, nan},
       {nan, 5, 7, nan},
       {1, 0, 0, 0, 0, 2, 0, 3, 4}},
      {{.N = 1, .C = 1, .H = 3, .W = 3, .kernel = 3, .stride = 2, .pad = 1},
       {1, 2, 3, nan, 5, 6, 7, 8, nan},
       {nan, 6, nan, nan},
       {0, 0, 0, 4, 0, 2, 0, 0, 4}},
  };
  const auto values = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  const auto tensor = [](const std::vector<float>& v, const Shape& shape, Device device) {
    Tensor t = Tensor::empty(shape);
    std::copy(v.begin(), v.end(), t.data<float>());
    return t.to(device);
  };
  for (const Backend& b : backends()) {
    INFO(label(b));
    const Tensor x = tensor({nan, -1, 0, 2, inf, -inf}, {6}, b.device);
    const Tensor dout = tensor({1, 2, 3, nan, 6, nan}, {6}, b.device);
    Tensor out = tensor(std::vector<float>(6, 0), {6}, b.device), dinp = out.clone();
    ops::relu_forward(out, x, b.impl);
    ops::relu_backward(dinp, dout, out, b.impl);
    CHECK(parity::compare_nonfinite(parity::host_values(out), values({nan, 0, 0, 2, inf, 0}), 1, 1).ok);
    CHECK(parity::compare_nonfinite(parity::host_values(dinp), values({1, 0, 0, nan, 6, 0}), 1, 1).ok);
    for (const PoolFixture& f : pools) {
      const Shape in_shape{1, 1, f.d.H, f.d.W}, out_shape{1, 1, f.d.P(), f.d.Q()};
      std::vector<float> ramp(f.out.size());
      for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = float(i + 1);
      const Tensor px = tensor(f.x, in_shape, b.device), pdout = tensor(ramp, out_shape, b.device);
      Tensor pout = tensor(ramp, out_shape, b.device), pdinp = px.clone();
      ops::max_pool2d_forward(pout, px, f.d, b.impl);
      ops::max_pool2d_backward(pdinp, pdout, px, pout, f.d, b.impl);
      CHECK(parity::compare_nonfinite(parity::host_values(pout), values(f.out), 1, 1).ok);
      CHECK(parity::compare_nonfinite(parity::host_values(pdinp), values(f.dinp), 1, 1).ok);
    }
  }
}

// ------------------------------------------------------------------------------------------ fused = composed
// batch_norm2d_relu_* is batch_norm2d_* followed by relu_* (PyTorch's BatchNorm2d then ReLU): forward, eval
// and backward, on the CPU reference in double and float32 and on the fast CPU kernels, finite inputs and
// NaN/Inf planted (where the composition's NaN and infinities must be matched in place).
// The direct convolution computes the positions past each row's end and drops them; in the weight gradient
// they are masked off, so an infinite input reaches only the weights that multiply it, as in the reference
// (and PyTorch): here the last column, which only the rightmost tap of each row sees.
TEST_CASE("conv2d: an infinite input reaches only the weight gradients it multiplies, by GEMM and direct") {
  const ops::ConvDesc d{.N = 2, .C = 2, .H = 6, .W = 9, .K = 3, .R = 3, .S = 3, .stride = 1, .pad = 0};
  Rng rng(7);
  Tensor inp = Tensor::uniform({d.N, d.C, d.H, d.W}, rng, -1, 1);
  inp.data<float>()[(1 * d.C + 1) * d.H * d.W + 2 * d.W + d.W - 1] = std::numeric_limits<float>::infinity();
  const Tensor weight = Tensor::uniform({d.K, d.C, d.R, d.S}, rng, -1, 1);
  const Tensor dout = Tensor::uniform({d.N, d.K, d.P(), d.Q()}, rng, -1, 1);
  const auto weight_gradient = [&](Impl impl) {
    Tensor dweight = Tensor::zeros(weight.shape());
    ops::conv2d_backward(nullptr, dweight, nullptr, dout, inp, weight, d, impl);
    return parity::host_values(dweight);
  };
  const std::vector<double> want = weight_gradient(Impl::Ref);
  const auto finite = std::count_if(want.begin(), want.end(), [](double v) { return std::isfinite(v); });
  REQUIRE(finite == int64_t(want.size()) - d.K * d.R);  // tap s = 2 of each (k, c = 1, r) only
  const cpu::fast::ConvAlgo saved = cpu::fast::conv_algo();
  for (const cpu::fast::ConvAlgo algo : {cpu::fast::ConvAlgo::gemm, cpu::fast::ConvAlgo::direct}) {
    cpu::fast::set_conv_algo(algo);
    INFO("algorithm ", int(algo));
    CHECK(parity::compare_nonfinite(weight_gradient(Impl::Fast), want, double(d.N) * d.P() * d.Q(), 1).ok);
  }
  cpu::fast::set_conv_algo(saved);
}

TEST_CASE("batch_norm2d_relu equals batch_norm2d then relu, forward and backward, NaN included") {
  struct Row {
    DType dtype;
    Impl impl;
  };
  const ops::BatchNormDesc d{.N = 4, .C = 6, .HW = 45};
  const Shape shape{d.N, d.C, 9, 5};
  const double K = double(d.N) * d.HW;
  for (const bool nonfinite : {false, true}) {
    Rng rng(41);
    Tensor x = Tensor::uniform(shape, rng, -1, 2), dout = Tensor::uniform(shape, rng, -1, 1);
    const Tensor gamma = Tensor::uniform({d.C}, rng, -1.5, 1.5), beta = Tensor::uniform({d.C}, rng, -0.5, 0.5);
    const Tensor running_mean0 = Tensor::uniform({d.C}, rng, -0.2, 0.2);
    const Tensor running_var0 = Tensor::uniform({d.C}, rng, 0.5, 2);
    if (nonfinite) {  // NaN in channel 0, +Inf in 1, -Inf in 2; NaN output gradients everywhere in 3 to 5
      x.data<float>()[3] = static_cast<float>(kNaN);
      x.data<float>()[d.HW + 7] = static_cast<float>(kInf);
      x.data<float>()[2 * d.HW] = static_cast<float>(-kInf);
      for (int64_t i = 3 * d.HW; i < x.numel(); i += 11) dout.data<float>()[i] = static_cast<float>(kNaN);
    }
    for (const Row row : {Row{DType::F64, Impl::Ref}, Row{DType::F32, Impl::Ref}, Row{DType::F32, Impl::Fast}}) {
      INFO((row.dtype == DType::F64 ? "double " : "float32 "), to_string(row.impl), nonfinite ? ", NaN/Inf" : "");
      const auto t = [&](const Tensor& host) { return host.to(row.dtype); };
      const Tensor xs = t(x), douts = t(dout), g = t(gamma), b = t(beta), rm0 = t(running_mean0), rv0 = t(running_var0);
      const auto zeros = [&](const Shape& s) { return Tensor::zeros(s, Device::CPU, row.dtype); };
      // composed
      Tensor bn = zeros(shape), out_c = zeros(shape), mean_c = zeros({d.C}), invstd_c = zeros({d.C});
      Tensor rm_c = rm0.clone(), rv_c = rv0.clone(), eval_bn = zeros(shape), eval_c = zeros(shape);
      ops::batch_norm2d_forward_train(bn, mean_c, invstd_c, rm_c, rv_c, xs, g, b, d, row.impl);
      ops::relu_forward(out_c, bn, row.impl);
      ops::batch_norm2d_forward_eval(eval_bn, xs, g, b, rm0, rv0, d, row.impl);
      ops::relu_forward(eval_c, eval_bn, row.impl);
      Tensor dy = zeros(shape), dinp_c = zeros(shape), dgamma_c = zeros({d.C}), dbeta_c = zeros({d.C});
      ops::relu_backward(dy, douts, out_c, row.impl);
      ops::batch_norm2d_backward(dinp_c, dgamma_c, dbeta_c, dy, xs, g, mean_c, invstd_c, d, row.impl);
      // fused
      Tensor out_f = zeros(shape), mean_f = zeros({d.C}), invstd_f = zeros({d.C}), eval_f = zeros(shape);
      Tensor rm_f = rm0.clone(), rv_f = rv0.clone();
      ops::batch_norm2d_relu_forward_train(out_f, mean_f, invstd_f, rm_f, rv_f, xs, g, b, d, row.impl);
      ops::batch_norm2d_relu_forward_eval(eval_f, xs, g, b, rm0, rv0, d, row.impl);
      Tensor dinp_f = zeros(shape), dgamma_f = zeros({d.C}), dbeta_f = zeros({d.C});
      ops::batch_norm2d_relu_backward(dinp_f, dgamma_f, dbeta_f, douts, xs, out_f, g, mean_f, invstd_f, d, row.impl);
      const std::vector<std::tuple<const char*, Tensor, Tensor, double>> pairs = {
          {"out", out_f, out_c, K},          {"save_mean", mean_f, mean_c, K}, {"save_invstd", invstd_f, invstd_c, K},
          {"running_mean", rm_f, rm_c, K},   {"running_var", rv_f, rv_c, K},   {"eval out", eval_f, eval_c, 1},
          {"dinp", dinp_f, dinp_c, K},       {"dgamma", dgamma_f, dgamma_c, K}, {"dbeta", dbeta_f, dbeta_c, K}};
      for (const auto& [what, fused, composed, reduction] : pairs) {
        const parity::Comparison cmp =
            parity::compare_nonfinite(parity::host_values(fused), parity::host_values(composed), reduction, 1);
        INFO(what, ": ", cmp.problem);
        CHECK(cmp.ok);
      }
      if (nonfinite) {  // the planted values reached the results: NaN channels, and a finite one
        const std::vector<double> dinp = parity::host_values(dinp_f), out = parity::host_values(out_f);
        CHECK(std::isnan(out[0]));
        CHECK(std::isnan(out[d.HW]));
        CHECK(std::isnan(dinp[2 * d.HW]));
        CHECK(std::isnan(parity::host_values(dgamma_f)[1]));
        const std::vector<double> eval = parity::host_values(eval_f);
        CHECK(std::isnan(eval[3]));
        CHECK((std::isinf(eval[d.HW + 7]) || eval[d.HW + 7] == 0.0));
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ determinism
// The 3x3 stride-1 shapes run by Winograd (the automatic rule takes both), the second in several blocks.
TEST_CASE("CPU fast conv2d repeats bit for bit at a fixed thread count") {
  ThreadsGuard guard;
  Rng rng(99);
  for (const ops::ConvDesc& d :
       {ops::ConvDesc{.N = 1, .C = 16, .H = 23, .W = 19, .K = 24, .R = 3, .S = 3, .stride = 1, .pad = 1},
        ops::ConvDesc{.N = 5, .C = 12, .H = 30, .W = 40, .K = 24, .R = 5, .S = 5, .stride = 1, .pad = 2},
        ops::ConvDesc{.N = 4, .C = 32, .H = 28, .W = 28, .K = 32, .R = 3, .S = 3, .stride = 1, .pad = 1},
        ops::ConvDesc{.N = 6, .C = 8, .H = 17, .W = 20, .K = 12, .R = 5, .S = 5, .stride = 2, .pad = 2},
        ops::ConvDesc{.N = 3, .C = 32, .H = 9, .W = 9, .K = 16, .R = 1, .S = 1, .stride = 1, .pad = 0}}) {
    const Tensor inp = Tensor::uniform({d.N, d.C, d.H, d.W}, rng, -1, 1);
    const Tensor weight = Tensor::uniform({d.K, d.C, d.R, d.S}, rng, -1, 1), bias = Tensor::uniform({d.K}, rng, -1, 1);
    const Tensor dout = Tensor::uniform({d.N, d.K, d.P(), d.Q()}, rng, -1, 1);
    for (int threads : {2, 4}) {
      set_cpu_threads(threads);
      std::vector<Tensor> runs[2];
      for (auto& results : runs) {
        Tensor out = Tensor::zeros(dout.shape()), dinp = Tensor::zeros(inp.shape());
        Tensor dweight = Tensor::zeros(weight.shape()), dbias = Tensor::zeros({d.K});
        ops::conv2d_forward(out, inp, weight, &bias, d, Impl::Fast);
        ops::conv2d_backward(&dinp, dweight, &dbias, dout, inp, weight, d, Impl::Fast);
        results = {out, dinp, dweight, dbias};
      }
      for (int i = 0; i < 4; ++i) {
        INFO("N=", d.N, " threads=", threads, " result ", i);
        CHECK(parity::bitwise_equal(runs[0][i], runs[1][i]));
      }
    }
  }
}

TEST_CASE("CPU fast linear, batch norm (with and without ReLU) and loss reductions repeat bit for bit at a fixed "
          "thread count") {
  ThreadsGuard guard;
  set_cpu_threads(3);
  Rng rng(31);
  const int N = 48, I = 700, O = 300;
  const Tensor inp = Tensor::uniform({N, I}, rng, -1, 1), weight = Tensor::uniform({O, I}, rng, -1, 1);
  const Tensor dout = Tensor::uniform({N, O}, rng, -1, 1);
  const ops::BatchNormDesc bn{.N = 8, .C = 6, .HW = 900};
  const Shape shape = {bn.N, bn.C, bn.HW, 1};
  const Tensor x = Tensor::uniform(shape, rng, -1, 1), dy = Tensor::uniform(shape, rng, -1, 1);
  const Tensor gamma = Tensor::uniform({bn.C}, rng, 0.5, 1.5), beta = Tensor::uniform({bn.C}, rng, -1, 1);
  const Tensor target = Tensor::uniform(shape, rng, -1, 1);
  auto run = [&] {
    Tensor dinp = Tensor::zeros({N, I}), dw = Tensor::zeros({O, I}), db = Tensor::zeros({O});
    ops::linear_backward(&dinp, dw, &db, dout, inp, weight, Impl::Fast);
    Tensor out = Tensor::zeros(shape), mean = Tensor::zeros({bn.C}), invstd = Tensor::zeros({bn.C});
    Tensor rmean = Tensor::zeros({bn.C}), rvar = Tensor::full({bn.C}, 1.0);
    ops::batch_norm2d_forward_train(out, mean, invstd, rmean, rvar, x, gamma, beta, bn, Impl::Fast);
    Tensor dx = Tensor::zeros(shape), dgamma = Tensor::zeros({bn.C}), dbeta = Tensor::zeros({bn.C});
    ops::batch_norm2d_backward(dx, dgamma, dbeta, dy, x, gamma, mean, invstd, bn, Impl::Fast);
    Tensor loss = Tensor::zeros({1});
    ops::mse_loss_forward(loss, x, target, Impl::Fast);
    Tensor out_r = Tensor::zeros(shape), mean_r = Tensor::zeros({bn.C}), invstd_r = Tensor::zeros({bn.C});
    ops::batch_norm2d_relu_forward_train(out_r, mean_r, invstd_r, rmean, rvar, x, gamma, beta, bn, Impl::Fast);
    Tensor dx_r = Tensor::zeros(shape), dgamma_r = Tensor::zeros({bn.C}), dbeta_r = Tensor::zeros({bn.C});
    ops::batch_norm2d_relu_backward(dx_r, dgamma_r, dbeta_r, dy, x, out_r, gamma, mean_r, invstd_r, bn, Impl::Fast);
    return std::vector<Tensor>{dinp,  dw,   db,    out,  mean,     invstd, dx,
                               dgamma, dbeta, loss, out_r, dx_r, dgamma_r, dbeta_r};
  };
  const std::vector<Tensor> first = run(), second = run();
  for (std::size_t i = 0; i < first.size(); ++i) {
    INFO("result ", i);
    CHECK(parity::bitwise_equal(first[i], second[i]));
  }
}

// Each map is one thread's, summed in a fixed order: the thread count cannot change a bit.
TEST_CASE("CPU fast soft-argmax gives the same bits at any thread count") {
  ThreadsGuard guard;
  Rng rng(37);
  const ops::SoftArgmaxDesc d{.N = 4, .K = 68, .H = 20, .W = 20};  // enough cells to start threads
  const Shape shape{d.N, d.K, d.H, d.W};
  const Tensor x = Tensor::uniform(shape, rng, -3, 3);
  std::vector<std::pair<Tensor, Tensor>> runs;
  for (int threads : {1, 2, 3, 7}) {
    set_cpu_threads(threads);
    Tensor out = Tensor::zeros({d.N, 2 * d.K}), probs = Tensor::zeros(shape);
    ops::soft_argmax2d_forward(out, probs, x, d, Impl::Fast);
    runs.emplace_back(out, probs);
  }
  for (std::size_t i = 1; i < runs.size(); ++i) {
    INFO("run ", i, " against one thread");
    CHECK(parity::bitwise_equal(runs[i].first, runs[0].first));
    CHECK(parity::bitwise_equal(runs[i].second, runs[0].second));
  }
}

// ------------------------------------------------------------------------------------------ GPU errors
TEST_CASE("bad arguments on the GPU are keynet::Errors") {
  if (gpu_backends().empty()) {
    MESSAGE("skipped: ", gpu_skip_reason());
    return;
  }
  const Tensor inp = Tensor::zeros({2, 3, 8, 8}, Device::CUDA), weight = Tensor::zeros({4, 3, 3, 3}, Device::CUDA);
  Tensor out = Tensor::zeros({2, 4, 6, 6}, Device::CUDA);
  const ops::ConvDesc wrong{.N = 2, .C = 5, .H = 8, .W = 8, .K = 4, .R = 3, .S = 3};
  for (const Backend& b : gpu_backends())
    CHECK_THROWS_AS(ops::conv2d_forward(out, inp, weight, nullptr, wrong, b.impl), Error);
  const Tensor cpu_weight = Tensor::zeros({4, 3, 3, 3});
  const ops::ConvDesc right{.N = 2, .C = 3, .H = 8, .W = 8, .K = 4, .R = 3, .S = 3};
  CHECK_THROWS_AS(ops::conv2d_forward(out, inp, cpu_weight, nullptr, right, Impl::Fast), Error);
#ifndef KEYNET_WITH_CUDNN
  // a CUDA build without cuDNN: the vendor path says what is missing instead of running something else
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(out, inp, weight, nullptr, right, Impl::Vendor),
                       doctest::Contains("built without cuDNN"), Error);
#endif
}

// ------------------------------------------------------------------------------------------ summary
TEST_CASE("zz: rows run and skipped, largest error ratio per (op, device, impl)") {
  std::printf("\nparity: tolerance factor * %g * 2^-24 * sqrt(K) * max|want|\n", parity::kRoundoffs);
  std::printf("| op | row | results compared | factor | largest error / tolerance |\n|---|---|---|---|---|\n");
  for (const auto& [key, worst] : worst_ratios()) {
    const std::size_t split = key.find("  ");
    const std::string op = key.substr(0, split), row = key.substr(split + 2);
    std::printf("| %s | %s | %ld | %g | %.3f |\n", op.c_str(), row.c_str(), worst.results, worst.factor, worst.ratio);
    MESSAGE(op, " ", row, ": ", worst.results, " results, largest error ratio ", worst.ratio);
  }
  MESSAGE("rows run: cpu/ref, cpu/fast, cpu/vendor");
  if (gpu_backends().empty()) {
    MESSAGE("rows skipped: cuda/ref, cuda/fast, cuda/vendor: ", gpu_skip_reason());
    // on the lent GPU machine a table without CUDA rows checked nothing that run was for
    if (test::gpu_required())
      FAIL_CHECK(std::string(test::kRequireGpuVariable), "=1 but the CUDA rows did not run: ", gpu_skip_reason());
  } else
    for (const Backend& b : gpu_backends()) MESSAGE("rows run: ", label(b));
#if defined(KEYNET_WITH_CUDA) && !defined(KEYNET_WITH_CUDNN)
  MESSAGE("rows skipped: cuda/vendor: built without cuDNN");
#endif
  for (const auto& [why, count] : skipped_rows()) MESSAGE("skipped ", count, " cases: ", why);
  CHECK(!worst_ratios().empty());
}
