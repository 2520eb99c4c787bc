// Layer behaviour beyond gradients: shapes, errors that name both shapes, BatchNorm semantics,
// one backward per forward, parameter names, kernel selection, what composites pass to their children.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "layers/losses.h"
#include "support/errors.h"
#include "layers/nets.h"
#include "layers/resnet.h"
#include "layers/soft_argmax.h"
#include "layers/upsample.h"
#include "support/parity.h"

using namespace keynet;
using keynet::testing::error_of;

namespace {

// The modules without children under `module`, found through for_each_child.
std::vector<Module*> leaves_of(Module& module) {
  std::vector<Module*> leaves;
  bool has_children = false;
  module.for_each_child([&](const std::string&, Module& child) {
    has_children = true;
    for (Module* leaf : leaves_of(child)) leaves.push_back(leaf);
  });
  if (!has_children) leaves.push_back(&module);
  return leaves;
}

}  // namespace

TEST_CASE("shape mismatches throw keynet::Error naming both shapes") {
  Rng rng(1);
  Conv2d conv(1, 12, 5, rng, 1, 2);
  const std::string conv_error = error_of([&] { conv.forward(Tensor::zeros({8, 3, 20, 20}), Mode::Train); });
  MESSAGE(conv_error);
  CHECK(conv_error.find("expected input (N,1,H,W)") != std::string::npos);
  CHECK(conv_error.find("[8,3,20,20]") != std::string::npos);

  Linear linear(10, 4, rng);
  const std::string linear_error = error_of([&] { linear.forward(Tensor::zeros({2, 9}), Mode::Train); });
  CHECK(linear_error.find("(N,10)") != std::string::npos);
  CHECK(linear_error.find("[2,9]") != std::string::npos);

  MSELoss loss;
  const std::string loss_error = error_of([&] { loss.forward(Tensor::zeros({2, 4}), Tensor::zeros({2, 5})); });
  CHECK(loss_error.find("[2,4]") != std::string::npos);
  CHECK(loss_error.find("[2,5]") != std::string::npos);

  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  const std::string add_error = error_of([&] { ops::add(a, a, b, Impl::Fast); });
  CHECK(add_error.find("[2,3] vs [3,2]") != std::string::npos);

  ops::ConvDesc d;
  d.N = 1, d.C = 2, d.H = 5, d.W = 5, d.K = 3, d.R = 3, d.S = 3;
  Tensor out = Tensor::zeros({1, 3, 3, 3});
  const std::string weight_error = error_of(
      [&] { ops::conv2d_forward(out, Tensor::zeros({1, 2, 5, 5}), Tensor::zeros({3, 2, 5, 5}), nullptr, d, Impl::Ref); });
  CHECK(weight_error.find("weight has shape [3,2,5,5], expected [3,2,3,3]") != std::string::npos);

  CHECK(error_of([&] { MaxPool2d pool(2); pool.forward(Tensor::zeros({1, 1, 1, 5}), Mode::Eval); }).find("[1,1,1,5]") !=
        std::string::npos);
  CHECK_THROWS_AS(Conv2d(0, 4, 3, rng), Error);
  CHECK_THROWS_AS(MaxPool2d(2, 2, 2), Error);
}

TEST_CASE("an output or gradient on another device or dtype than the input is refused, naming the op and argument") {
  // A CUDA tensor needs a device (tests/gpu/test_device_safety.cpp passes CPU outputs to CUDA inputs);
  // the same check refuses another dtype, which the CPU can make.
  ops::ConvDesc c;
  c.N = 1, c.C = 2, c.H = 5, c.W = 5, c.K = 3, c.R = 3, c.S = 3;
  const Tensor inp = Tensor::zeros({1, 2, 5, 5}), weight = Tensor::zeros({3, 2, 3, 3});
  Tensor out64 = Tensor::zeros({1, 3, 3, 3}, Device::CPU, DType::F64), dweight = Tensor::zeros({3, 2, 3, 3});
  CHECK(error_of([&] { ops::conv2d_forward(out64, inp, weight, nullptr, c, Impl::Fast); })
            .find("conv2d_forward: output is [1,3,3,3] float64 cpu but the input is [1,2,5,5] float32 cpu") !=
        std::string::npos);
  Tensor dweight64 = Tensor::zeros({3, 2, 3, 3}, Device::CPU, DType::F64);
  CHECK(error_of([&] { ops::conv2d_backward(nullptr, dweight64, nullptr, Tensor::zeros({1, 3, 3, 3}), inp, weight, c,
                                            Impl::Fast); })
            .find("conv2d_backward: weight gradient is [3,2,3,3] float64 cpu") != std::string::npos);
  CHECK(error_of([&] { ops::conv2d_backward(nullptr, dweight, nullptr, out64, inp, weight, c, Impl::Fast); })
            .find("conv2d_backward: output gradient is [1,3,3,3] float64 cpu") != std::string::npos);

  ops::PoolDesc p;
  p.N = 1, p.C = 2, p.H = 4, p.W = 4, p.kernel = 2, p.stride = 2;
  const Tensor pool_inp = Tensor::zeros({1, 2, 4, 4});
  Tensor pool_out64 = Tensor::zeros({1, 2, 2, 2}, Device::CPU, DType::F64);
  CHECK(error_of([&] { ops::max_pool2d_forward(pool_out64, pool_inp, p, Impl::Fast); })
            .find("max_pool2d_forward: output is [1,2,2,2] float64 cpu") != std::string::npos);
  Tensor pool_dinp64 = Tensor::zeros({1, 2, 4, 4}, Device::CPU, DType::F64);
  CHECK(error_of([&] {
          ops::max_pool2d_backward(pool_dinp64, Tensor::zeros({1, 2, 2, 2}), pool_inp, Tensor::zeros({1, 2, 2, 2}), p,
                                   Impl::Fast);
        }).find("max_pool2d_backward: input gradient is [1,2,4,4] float64 cpu") != std::string::npos);

  const Tensor linear_inp = Tensor::zeros({2, 3}), linear_weight = Tensor::zeros({4, 3});
  Tensor linear_out64 = Tensor::zeros({2, 4}, Device::CPU, DType::F64);
  CHECK(error_of([&] { ops::linear_forward(linear_out64, linear_inp, linear_weight, nullptr, Impl::Fast); })
            .find("linear_forward: output is [2,4] float64 cpu but the input is [2,3] float32 cpu") !=
        std::string::npos);
  Tensor linear_dweight64 = Tensor::zeros({4, 3}, Device::CPU, DType::F64);
  CHECK(error_of([&] {
          ops::linear_backward(nullptr, linear_dweight64, nullptr, Tensor::zeros({2, 4}), linear_inp, linear_weight,
                               Impl::Fast);
        }).find("linear_backward: weight gradient is [4,3] float64 cpu") != std::string::npos);

  Tensor relu_out64 = Tensor::zeros({2, 3}, Device::CPU, DType::F64);
  CHECK(error_of([&] { ops::relu_forward(relu_out64, linear_inp, Impl::Fast); })
            .find("relu_forward: output is [2,3] float64 cpu but the input is [2,3] float32 cpu") != std::string::npos);
}

TEST_CASE("one backward per forward") {
  Rng rng(2);
  Linear linear(3, 2, rng);
  CHECK(error_of([&] { linear.backward(Tensor::zeros({1, 2})); }).find("without a forward") != std::string::npos);
  linear.forward(Tensor::zeros({1, 3}), Mode::Train);
  linear.backward(Tensor::zeros({1, 2}));
  CHECK_THROWS_AS(linear.backward(Tensor::zeros({1, 2})), Error);
}

TEST_CASE("parameter gradients accumulate until zero_grad; input gradients are fresh") {
  Rng rng(3);
  Linear linear(4, 3, rng);
  const Tensor x = Tensor::normal({2, 4}, rng, 0, 1);
  const Tensor dy = Tensor::normal({2, 3}, rng, 0, 1);
  linear.forward(x, Mode::Train);
  const Tensor dx1 = linear.backward(dy);
  const std::vector<float> once = linear.weight().grad.to_float_vector();
  linear.forward(x, Mode::Train);
  const Tensor dx2 = linear.backward(dy);
  const std::vector<float> twice = linear.weight().grad.to_float_vector();
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == doctest::Approx(2 * once[i]));
  CHECK(dx1.to_float_vector() == dx2.to_float_vector());
  zero_grad(linear);
  for (float g : linear.weight().grad.to_float_vector()) CHECK(g == 0.0f);
}

TEST_CASE("BatchNorm2d: batch statistics in training, running statistics in evaluation (PyTorch semantics)") {
  BatchNorm2d bn(1, 1e-5, 0.1);
  // One channel, values 1..4: mean 2.5, biased variance 1.25, unbiased variance 5/3.
  const Tensor x = Tensor::from_vector({1, 1, 2, 2}, std::vector<float>{1, 2, 3, 4});
  const Tensor y = bn.forward(x, Mode::Train);
  CHECK(y.at({0, 0, 0, 0}) == doctest::Approx((1 - 2.5) / std::sqrt(1.25 + 1e-5)));
  CHECK(bn.running_mean().at({0}) == doctest::Approx(0.25));
  CHECK(bn.running_var().at({0}) == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));
  const Tensor z = bn.forward(x, Mode::Eval);
  CHECK(z.at({0, 0, 0, 0}) == doctest::Approx((1 - 0.25) / std::sqrt(0.9 + 0.1 * 5.0 / 3.0 + 1e-5)));
  CHECK(error_of([&] { bn.backward(Tensor::zeros({1, 1, 2, 2})); }).find("Mode::Train") != std::string::npos);
  BatchNorm2d single(2);
  CHECK_THROWS_AS(single.forward(Tensor::zeros({1, 2, 1, 1}), Mode::Train), Error);
}

TEST_CASE("BatchNorm2d in evaluation: a dead channel (running variance 0 or 1e-7) divides by sqrt(var + eps)") {
  // Near variance 1 a misplaced eps (sqrt(var) + eps, or var without eps) is invisible; here it is not.
  for (Impl impl : {Impl::Ref, Impl::Fast}) {
    CAPTURE(to_string(impl));
    const double eps = 1e-5;
    BatchNorm2d bn(2, eps);
    bn.set_impl(impl);
    bn.running_mean() = Tensor::from_vector({2}, std::vector<float>{0.5f, -1.0f});
    bn.running_var() = Tensor::from_vector({2}, std::vector<float>{0.0f, 1e-7f});
    bn.weight().value = Tensor::from_vector({2}, std::vector<float>{2.0f, 3.0f});
    bn.bias().value = Tensor::from_vector({2}, std::vector<float>{0.1f, -0.2f});
    Rng rng(3);
    const Tensor x = Tensor::normal({2, 2, 3, 3}, rng, 0, 1);
    const Tensor y = bn.forward(x, Mode::Eval);
    const double mean[2] = {0.5, -1.0}, var[2] = {0.0, 1e-7}, gamma[2] = {2.0, 3.0}, beta[2] = {0.1, -0.2};
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) {
            const double expected = (x.at({n, c, i, j}) - mean[c]) * gamma[c] / std::sqrt(var[c] + eps) + beta[c];
            CHECK(y.at({n, c, i, j}) == doctest::Approx(expected).epsilon(1e-5));
          }
  }
}

namespace {
// Sums over "ranks" in one process: `copies` ranks that hold this batch each (1: only this one).
class CopiedRanks : public RankSum {
 public:
  explicit CopiedRanks(int copies) : copies_(copies) {}
  void sum(Tensor& values) override {
    Tensor scaled = Tensor::from_vector(values.shape(), values.to_float_vector());
    for (int64_t i = 0; i < scaled.numel(); ++i) scaled.data<float>()[i] *= static_cast<float>(copies_);
    values.copy_from(scaled);
    ++tensor_sums;
  }
  int64_t global_batch(int64_t local_batch) override { return local_batch * copies_; }
  int tensor_sums = 0;

 private:
  int copies_;
};

double largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double largest = 0;
  for (size_t i = 0; i < a.size(); ++i) largest = std::max(largest, std::abs(double(a[i]) - b[i]));
  return largest;
}
}  // namespace

TEST_CASE("a synchronised BatchNorm2d: one rank is the plain layer; two ranks with the same batch change only the "
          "running variance's count") {
  for (const bool relu : {false, true})
    for (Impl impl : {Impl::Ref, Impl::Fast}) {
      CAPTURE(relu);
      CAPTURE(to_string(impl));
      const auto make = [&] {
        std::unique_ptr<BatchNorm2d> bn = relu ? std::make_unique<BatchNormReLU>(3) : std::make_unique<BatchNorm2d>(3);
        bn->set_impl(impl);
        bn->weight().value = Tensor::from_vector({3}, std::vector<float>{1.5f, -0.7f, 0.9f});
        bn->bias().value = Tensor::from_vector({3}, std::vector<float>{0.2f, 0.1f, -0.3f});
        return bn;
      };
      Rng rng(5);
      const Tensor x = Tensor::uniform({4, 3, 5, 6}, rng, -1.0, 2.0), dy = Tensor::uniform({4, 3, 5, 6}, rng, -1, 1);
      auto plain = make();
      const std::vector<float> y = plain->forward(x, Mode::Train).to_float_vector();
      const std::vector<float> dx = plain->backward(dy).to_float_vector();
      const double M = 4 * 5 * 6;
      for (const int copies : {1, 2}) {
        CAPTURE(copies);
        auto synchronised = make();
        CopiedRanks ranks(copies);
        synchronise_batch_norms(*synchronised, &ranks);
        const std::vector<float> sy = synchronised->forward(x, Mode::Train).to_float_vector();
        const std::vector<float> sdx = synchronised->backward(dy).to_float_vector();
        CHECK(ranks.tensor_sums == 3);  // the sums and the squares forward, the two gradient sums backward
        CHECK(largest_difference(sy, y) < 1e-5);
        CHECK(largest_difference(sdx, dx) < 1e-5);
        CHECK(largest_difference(synchronised->weight().grad.to_float_vector(),
                                         plain->weight().grad.to_float_vector()) < 1e-4);
        CHECK(largest_difference(synchronised->bias().grad.to_float_vector(),
                                         plain->bias().grad.to_float_vector()) < 1e-4);
        CHECK(largest_difference(synchronised->running_mean().to_float_vector(),
                                         plain->running_mean().to_float_vector()) < 1e-6);
        // running_var = 0.9 + 0.1 * squares / (count - 1): the same squares per copy, count = copies * M
        for (int c = 0; c < 3; ++c) {
          const double squares = (plain->running_var().data<float>()[c] - 0.9) / 0.1 * (M - 1);
          CHECK(synchronised->running_var().data<float>()[c] ==
                doctest::Approx(0.9 + 0.1 * copies * squares / (copies * M - 1)).epsilon(1e-5));
        }
      }
    }
}

TEST_CASE("ReLU at 0 and max-pool ties follow PyTorch's rules, by hand, in every CPU implementation") {
  // Fast is checked against Ref elsewhere; a rule wrong in both is only caught by values written here.
  for (Impl impl : {Impl::Ref, Impl::Fast}) {
    CAPTURE(to_string(impl));
    ReLU relu;
    relu.set_impl(impl);
    const Tensor x = Tensor::from_vector({1, 1, 1, 3}, std::vector<float>{-1.0f, 0.0f, 2.0f});
    CHECK(relu.forward(x, Mode::Train).to_float_vector() == std::vector<float>{0.0f, 0.0f, 2.0f});
    // The gradient at 0 is 0, as torch.relu's.
    CHECK(relu.backward(Tensor::full({1, 1, 1, 3}, 1.0)).to_float_vector() == std::vector<float>{0.0f, 0.0f, 1.0f});

    MaxPool2d pool(2);
    pool.set_impl(impl);
    // Two maxima (3) in the window: the gradient goes to the first in row-major order only.
    const Tensor tie = Tensor::from_vector({1, 1, 2, 2}, std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f});
    CHECK(pool.forward(tie, Mode::Train).to_float_vector() == std::vector<float>{3.0f});
    CHECK(pool.backward(Tensor::full({1, 1, 1, 1}, 1.0)).to_float_vector() ==
          std::vector<float>{0.0f, 1.0f, 0.0f, 0.0f});
  }
}

TEST_CASE("ReLU(inplace=True) writes over its input: ReLU()'s output and gradient, no new storage") {
  for (Impl impl : {Impl::Ref, Impl::Fast}) {
    CAPTURE(to_string(impl));
    ReLU copying, in_place(true);
    copying.set_impl(impl);
    in_place.set_impl(impl);
    CHECK(copying.describe() == "ReLU()");
    CHECK(in_place.describe() == "ReLU(inplace=True)");
    Rng rng(3);
    const Tensor x = Tensor::normal({2, 3, 4, 5}, rng, 0, 1), dy = Tensor::normal(x.shape(), rng, 0, 1);
    const Tensor y = copying.forward(x, Mode::Train);
    const Tensor x_given = x.clone();
    const Tensor y_in_place = in_place.forward(x_given, Mode::Train);
    CHECK(y_in_place.data<float>() == x_given.data<float>());
    CHECK(y_in_place.to_float_vector() == y.to_float_vector());
    CHECK(x_given.to_float_vector() == y.to_float_vector());
    CHECK(in_place.backward(dy).to_float_vector() == copying.backward(dy).to_float_vector());
  }
}

TEST_CASE("a BasicBlock leaves its input as it was: the residual sum and its ReLU go over bn2's output") {
  for (const bool downsample : {false, true}) {
    CAPTURE(downsample);
    Rng rng(5);
    BasicBlock block(3, downsample ? 4 : 3, downsample ? 2 : 1, rng);
    const Tensor x = Tensor::normal({2, 3, 6, 5}, rng, 0, 1);
    const std::vector<float> before = x.to_float_vector();
    for (const Mode mode : {Mode::Train, Mode::Eval}) {
      const Tensor y = block.forward(x, mode);
      CHECK(y.data<float>() != x.data<float>());
      CHECK(x.to_float_vector() == before);
      if (mode == Mode::Train) block.backward(Tensor::normal(y.shape(), rng, 0, 1));
    }
    block.fold_batch_norms();
    block.forward(x, Mode::Eval);
    CHECK(x.to_float_vector() == before);
  }
}

TEST_CASE("Wing loss by hand: both pieces, their join, sign(0) = 0, and bad w or epsilon refused") {
  // w = 10, epsilon = 2 (the paper's): c = 10 - 10 ln 6. Errors 0, 1 (log piece), 10 (the join: both
  // pieces give 10 ln 6) and -20 (linear piece: 20 - c = 10 + 10 ln 6).
  const double c = 10.0 - 10.0 * std::log(6.0);
  const Tensor target = Tensor::from_vector({4}, std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f});
  const Tensor pred = Tensor::from_vector({4}, std::vector<float>{0.0f, 1.0f, 10.0f, -20.0f});
  const double want = (0.0 + 10.0 * std::log(1.5) + 10.0 * std::log(6.0) + (20.0 - c)) / 4.0;
  for (Impl impl : {Impl::Ref, Impl::Fast}) {
    CAPTURE(to_string(impl));
    WingLoss loss({.w = 10.0, .epsilon = 2.0});
    loss.set_impl(impl);
    CHECK(loss_value(loss.forward(pred, target)) == doctest::Approx(want).epsilon(1e-6));
    // d/dx: 0 at x = 0, w / (epsilon + |x|) = 10/3 at 1, 1 from w on (the linear piece), each over n = 4
    const std::vector<float> grad = loss.backward(1.0).to_float_vector();
    CHECK(grad[0] == 0.0f);
    CHECK(grad[1] == doctest::Approx(10.0 / 3.0 / 4.0).epsilon(1e-6));
    CHECK(grad[2] == doctest::Approx(0.25).epsilon(1e-6));
    CHECK(grad[3] == doctest::Approx(-0.25).epsilon(1e-6));
  }
  for (const ops::WingDesc bad : {ops::WingDesc{.w = 0.0, .epsilon = 2.0}, ops::WingDesc{.w = 10.0, .epsilon = -1.0},
                                  ops::WingDesc{.w = NAN, .epsilon = 2.0}}) {
    WingLoss loss(bad);
    CHECK_THROWS_WITH_AS(loss.forward(pred, target), doctest::Contains("w and epsilon must be positive"), Error);
  }
}

TEST_CASE("nearest upsampling by hand: a 2x2 map by 2, its backward sums each block, bad shapes refused") {
  for (const DType dtype : {DType::F32, DType::F64})
    for (Impl impl : {Impl::Ref, Impl::Fast, Impl::Vendor}) {
      CAPTURE(to_string(impl));
      CAPTURE(dtype == DType::F64 ? "float64" : "float32");
      UpsampleNearest2d up(2);
      up.set_impl(impl);
      CHECK(up.describe() == "UpsampleNearest2d(scale=2)");
      const Tensor x = Tensor::from_vector({1, 1, 2, 2}, std::vector<float>{1, 2, 3, 4}).to(dtype);
      const Tensor y = up.forward(x, Mode::Train);
      CHECK(y.shape() == Shape{1, 1, 4, 4});
      CHECK(y.to_double_vector() == std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
      std::vector<float> ramp(16);
      for (int i = 0; i < 16; ++i) ramp[i] = float(i);
      // blocks {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}
      const Tensor dx = up.backward(Tensor::from_vector({1, 1, 4, 4}, ramp).to(dtype));
      CHECK(dx.shape() == Shape{1, 1, 2, 2});
      CHECK(dx.to_double_vector() == std::vector<double>{10, 18, 42, 50});
    }
  UpsampleNearest2d up(3);
  const std::string flat = error_of([&] { up.forward(Tensor::zeros({2, 3}), Mode::Train); });
  CHECK(flat.find("UpsampleNearest2d(scale=3): expected input (N,C,H,W), got [2,3]") != std::string::npos);
  up.forward(Tensor::zeros({1, 2, 2, 3}), Mode::Train);
  const std::string wrong = error_of([&] { up.backward(Tensor::zeros({1, 2, 6, 6})); });
  CHECK(wrong.find("output gradient [1,2,6,6] does not match the output [1,2,6,9]") != std::string::npos);
  CHECK_THROWS_WITH_AS(UpsampleNearest2d(0), doctest::Contains("scale must be a positive integer"), Error);
}

TEST_CASE("soft-argmax by hand: a peak lands on its cell's centre, a flat map at (0, 0), NaN spreads over its map") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const DType dtype : {DType::F32, DType::F64})
    for (Impl impl : {Impl::Ref, Impl::Fast, Impl::Vendor}) {
      CAPTURE(to_string(impl));
      CAPTURE(dtype == DType::F64 ? "float64" : "float32");
      // 3x4 maps: column j's centre is (2j+1)/4 - 1, row i's (2i+1)/3 - 1. Map 0: one score of 100 at
      // row 2, column 1 (the others 0), so the point is that cell's centre (-0.25, 2/3). Map 1: flat.
      std::vector<float> scores(24, 0.0f);
      scores[2 * 4 + 1] = 100.0f;
      for (int c = 12; c < 24; ++c) scores[c] = 0.7f;
      SoftArgmax2d soft_argmax(2.0);
      soft_argmax.set_impl(impl);
      CHECK(soft_argmax.describe() == "SoftArgmax2d(beta=2)");
      const std::vector<double> y =
          soft_argmax.forward(Tensor::from_vector({1, 2, 3, 4}, scores).to(dtype), Mode::Train).to_double_vector();
      REQUIRE(y.size() == 4);
      CHECK(y[0] == doctest::Approx(-0.25).epsilon(1e-6));
      CHECK(y[1] == doctest::Approx(2.0 / 3.0).epsilon(1e-6));
      CHECK(y[2] == doctest::Approx(0.0).epsilon(1e-6));
      CHECK(y[3] == doctest::Approx(0.0).epsilon(1e-6));
      // Backward on the flat map: p = 1/12, (x, y) = (0, 0), so dinp = beta / 12 * (gx(j) dx + gy(i) dy);
      // with (dx, dy) = (1, -2), cell (2, 1): 2/12 * (-0.25 - 2 * 2/3). The peak map's gradient is ~0.
      const std::vector<double> dx =
          soft_argmax.backward(Tensor::from_vector({1, 4}, std::vector<float>{1, 1, 1, -2}).to(dtype))
              .to_double_vector();
      CHECK(dx[12 + 2 * 4 + 1] == doctest::Approx(2.0 / 12.0 * (-0.25 - 4.0 / 3.0)).epsilon(1e-6));
      CHECK(dx[12 + 0] == doctest::Approx(2.0 / 12.0 * (-0.75 + 2 * 2.0 / 3.0)).epsilon(1e-6));
      CHECK(std::abs(dx[2 * 4 + 1]) < 1e-6);

      // NaN in map 0 (of 2x2 maps): its point, probabilities and gradient are NaN; map 1 is untouched.
      SoftArgmax2d nan_map(1.0);
      nan_map.set_impl(impl);
      const Tensor with_nan = Tensor::from_vector({1, 2, 2, 2}, std::vector<float>{0, 5, nan, 1, 0, 0, 0, 0}).to(dtype);
      const std::vector<double> points = nan_map.forward(with_nan, Mode::Train).to_double_vector();
      CHECK(std::isnan(points[0]));
      CHECK(std::isnan(points[1]));
      CHECK(points[2] == doctest::Approx(0.0).epsilon(1e-6));
      CHECK(points[3] == doctest::Approx(0.0).epsilon(1e-6));
      const std::vector<double> grad =
          nan_map.backward(Tensor::full({1, 4}, 1.0, dtype)).to_double_vector();
      for (int c = 0; c < 4; ++c) CHECK(std::isnan(grad[c]));
      for (int c = 4; c < 8; ++c) CHECK(std::isfinite(grad[c]));
    }
  SoftArgmax2d soft_argmax;
  CHECK(soft_argmax.describe() == "SoftArgmax2d(beta=1)");
  const std::string flat = error_of([&] { soft_argmax.forward(Tensor::zeros({2, 3, 4}), Mode::Train); });
  CHECK(flat.find("SoftArgmax2d(beta=1): expected scores (N,K,H,W), got [2,3,4]") != std::string::npos);
  soft_argmax.forward(Tensor::zeros({2, 3, 4, 5}), Mode::Train);
  const std::string wrong = error_of([&] { soft_argmax.backward(Tensor::zeros({2, 3})); });
  CHECK(wrong.find("SoftArgmax2d(beta=1): output gradient [2,3] does not match the output [2,6]") !=
        std::string::npos);
  Tensor out = Tensor::zeros({2, 6}), probs = Tensor::zeros({2, 3, 5, 4});
  const ops::SoftArgmaxDesc d{.N = 2, .K = 3, .H = 4, .W = 5};
  CHECK(error_of([&] { ops::soft_argmax2d_forward(out, probs, Tensor::zeros({2, 3, 4, 5}), d, Impl::Fast); })
            .find("soft_argmax2d_forward: probabilities has shape [2,3,5,4], expected [2,3,4,5]") !=
        std::string::npos);
  for (const double beta : {0.0, -1.0, std::numeric_limits<double>::infinity()})
    CHECK_THROWS_WITH_AS(SoftArgmax2d{beta}, doctest::Contains("beta must be positive and finite"), Error);
}

TEST_CASE("the reference nets produce the expected output shapes and names") {
  Rng rng(4);
  auto nose = make_nose_net(rng);
  CHECK(nose->forward(Tensor::zeros({3, 1, 60, 80}), Mode::Eval).shape() == Shape{3, 2});
  auto face = make_face_net(rng);
  CHECK(face->forward(Tensor::zeros({2, 1, 120, 160}), Mode::Eval).shape() == Shape{2, 116});
  ResNet18 resnet(1, 136, rng);
  CHECK(resnet.forward(Tensor::zeros({1, 1, 64, 64}), Mode::Eval).shape() == Shape{1, 136});
  const auto names = named_parameters(*nose);
  CHECK(names.front().first == "0.weight");
  CHECK(names.back().first == "12.bias");
  // with batch norm, BatchNorm2d and ReLU are one BatchNormReLU that keeps torch.nn.Sequential's numbers
  // (conv 0, bn 1, relu 2, pool 3, conv 4, ...), so the state names are the unfused network's
  auto bn_net = make_conv_net({.stages = {{4, 3}, {6, 3}}, .hidden = {8}, .batch_norm = true}, 12, 12, 2, rng);
  std::vector<std::string> state;
  for (const auto& [name, parameter] : named_parameters(*bn_net)) state.push_back(name);
  for (const auto& [name, buffer] : named_buffers(*bn_net)) state.push_back(name);
  const std::vector<std::string> expected = {
      "0.weight", "1.weight", "1.bias", "4.weight", "5.weight", "5.bias", "9.weight", "9.bias", "11.weight",
      "11.bias", "1.running_mean", "1.running_var", "5.running_mean", "5.running_var"};
  CHECK(state == expected);
  CHECK(bn_net->forward(Tensor::zeros({2, 1, 12, 12}), Mode::Train).shape() == Shape{2, 2});
}

TEST_CASE("folding batch norms into convolutions: the same outputs in float rounding, the same state, no training") {
  Rng rng(41);
  ResNet18 resnet(1, 6, rng), integral(1, 6, rng, ResNetHead::Integral);
  auto conv_net = make_conv_net({.stages = {{4, 5}, {6, 3}}, .hidden = {8}, .batch_norm = true}, 16, 14, 3, rng);
  for (Module* model : {static_cast<Module*>(&resnet), static_cast<Module*>(&integral),
                        static_cast<Module*>(conv_net.get())}) {
    // batch norms that do something: random scales, shifts and running statistics
    for (auto& [name, parameter] : named_parameters(*model))
      if (parameter->value.ndim() == 1) parameter->value = Tensor::uniform(parameter->value.shape(), rng, 0.5, 1.5);
    for (auto& [name, buffer] : named_buffers(*model)) *buffer = Tensor::uniform(buffer->shape(), rng, 0.2, 1.5);
    const Tensor x = Tensor::normal({2, 1, 16, 14}, rng, 0, 1);
    const std::vector<float> before = model->forward(x, Mode::Eval).to_float_vector();
    std::vector<Tensor> state;
    for (auto& [name, parameter] : named_parameters(*model)) state.push_back(parameter->value.clone());
    model->fold_batch_norms();
    const std::vector<float> after = model->forward(x, Mode::Eval).to_float_vector();
    double scale = 0, worst = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
      scale = std::max(scale, std::abs(double(before[i])));
      worst = std::max(worst, std::abs(double(after[i]) - before[i]));
    }
    CHECK(worst <= 1e-5 * scale);
    CHECK(worst > 0);  // the folded path ran: its rounding differs
    std::size_t i = 0;
    for (auto& [name, parameter] : named_parameters(*model)) CHECK(parity::bitwise_equal(parameter->value, state[i++]));
    CHECK_THROWS_WITH_AS(model->forward(x, Mode::Train), doctest::Contains("for inference"), Error);
  }
  // every batch norm of ResNet18 follows a convolution: the stem, two per block and three shortcuts
  int folded = 0, batch_norms = 0;
  std::function<void(Module&)> count = [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
      ++batch_norms;
      folded += bn->folded();
    }
    m.for_each_child([&](const std::string&, Module& child) { count(child); });
  };
  count(resnet);
  CHECK(batch_norms == 20);
  CHECK(folded == 20);
  count(integral);  // and the integral head's two
  CHECK(batch_norms == 42);
  CHECK(folded == 42);
}

TEST_CASE("ResNet18's integral head: one score map per point at stride 8, points inside the crop, torchvision's "
          "names for the body") {
  Rng rng(43);
  ResNet18 model(1, 2 * 5, rng, ResNetHead::Integral);
  CHECK(model.describe() == "ResNet18(in_channels=1, num_outputs=10, head=integral)");
  const Tensor x = Tensor::normal({3, 1, 64, 32}, rng, 0, 1);
  const Tensor y = model.forward(x, Mode::Train);
  CHECK(y.shape() == Shape{3, 10});
  // layer4 at 2x1, the maps at 8x4: the outermost cell centres bound the points
  for (int i = 0; i < 10; i += 2)
    for (int n = 0; n < 3; ++n) {
      CHECK(std::abs(y.data<float>()[n * 10 + i]) <= 1 - 1.0f / 4 + 1e-6f);
      CHECK(std::abs(y.data<float>()[n * 10 + i + 1]) <= 1 - 1.0f / 8 + 1e-6f);
    }
  // the maps start near uniform: every point near the centre
  for (float v : y.to_float_vector()) CHECK(std::abs(v) < 0.05f);
  std::vector<std::string> names;
  for (auto& [name, parameter] : named_parameters(model)) names.push_back(name);
  CHECK(names.front() == "conv1.weight");
  CHECK(std::find(names.begin(), names.end(), "layer4.1.bn2.bias") != names.end());
  CHECK(std::find(names.begin(), names.end(), "fc.weight") == names.end());
  CHECK(names.back() == "head.6.bias");  // the 1x1 conv that scores each cell, before the soft-argmax
  CHECK(model.backward(Tensor::full({3, 10}, 1.0)).shape() == x.shape());
  CHECK_THROWS_WITH_AS(ResNet18(1, 7, rng, ResNetHead::Integral), doctest::Contains("invalid configuration"), Error);
}

TEST_CASE("a model card's architecture name picks ResNet18's head; an unknown name is refused naming its source") {
  CHECK(resnet18_head("resnet18", "card") == ResNetHead::Linear);
  CHECK(resnet18_head("resnet18-integral", "card") == ResNetHead::Integral);
  CHECK_THROWS_WITH_AS(resnet18_head("resnet50", "m.safetensors"),
                       "m.safetensors: unknown architecture 'resnet50' (known: resnet18, resnet18-integral)", Error);
  CHECK_THROWS_AS(resnet18_head("", "card"), Error);
}

TEST_CASE("kernel implementation is chosen at run time, per layer") {
  CHECK(parse_impl("ref") == Impl::Ref);
  CHECK(parse_impl("vendor") == Impl::Vendor);
  CHECK(error_of([] { parse_impl("cudnn"); }).find("expected ref, fast or vendor") != std::string::npos);
  Rng rng(5);
  Conv2d conv(2, 3, 3, rng, 1, 1);
  const Tensor x = Tensor::normal({2, 2, 7, 7}, rng, 0, 1);
  // Ref, then Fast: one of them differs from the default, so a set_impl that did nothing fails.
  conv.set_impl(Impl::Ref);
  CHECK(conv.impl() == Impl::Ref);
  const std::vector<float> ref = conv.forward(x, Mode::Eval).to_float_vector();
  conv.set_impl(Impl::Fast);
  CHECK(conv.impl() == Impl::Fast);
  const std::vector<float> fast = conv.forward(x, Mode::Eval).to_float_vector();
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::abs(ref[i] - fast[i])));
  CHECK(worst < 1e-5);
}

TEST_CASE("set_impl on a composite reaches every leaf") {
  Rng rng(6);
  ResNet18 resnet(1, 4, rng);
  const std::vector<Module*> leaves = leaves_of(resnet);
  // Stem conv, bn+relu (one BatchNormReLU), maxpool; 8 blocks of conv, bn+relu, conv, bn, relu; 3
  // projections of conv, bn; avgpool, fc: a child missing from a for_each_child changes the count.
  CHECK(leaves.size() == 3 + 8 * 5 + 3 * 2 + 2);
  for (const Impl impl : {Impl::Ref, Impl::Fast}) {  // one of them differs from the default
    resnet.set_impl(impl);
    CHECK(resnet.impl() == impl);
    std::size_t reached = 0;
    for (const Module* leaf : leaves) reached += leaf->impl() == impl;
    CHECK(reached == leaves.size());
  }
}

TEST_CASE("a BasicBlock as first layer returns no input gradient and the same parameter gradients") {
  for (const bool downsample : {false, true}) {
    CAPTURE(downsample);
    const int out_channels = downsample ? 4 : 3, stride = downsample ? 2 : 1;
    // Two identical blocks, each wrapped as the first layer of a Sequential; only one needs the input gradient.
    Rng rng_needed(7), rng_first(7);
    Sequential needed, first;
    CHECK(needed.emplace<BasicBlock>("", 3, out_channels, stride, rng_needed).has_downsample() == downsample);
    first.emplace<BasicBlock>("", 3, out_channels, stride, rng_first);
    first.set_needs_input_grad(false);

    Rng data_rng(8);
    const Tensor x = Tensor::normal({2, 3, 6, 5}, data_rng, 0, 1);
    const Tensor y = needed.forward(x, Mode::Train);
    const Tensor dy = Tensor::normal(y.shape(), data_rng, 0, 1);
    CHECK(needed.backward(dy).defined());
    first.forward(x, Mode::Train);
    CHECK_FALSE(first.backward(dy).defined());

    const auto needed_params = named_parameters(needed), first_params = named_parameters(first);
    REQUIRE(needed_params.size() == first_params.size());
    for (std::size_t i = 0; i < needed_params.size(); ++i) {
      CAPTURE(needed_params[i].first);
      CHECK(needed_params[i].second->grad.to_float_vector() == first_params[i].second->grad.to_float_vector());
    }
  }
}
