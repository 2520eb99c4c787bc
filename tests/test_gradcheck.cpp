// Finite-difference gradient checks of every layer and loss in double, and of the checker itself.
#include <doctest/doctest.h>

#include "layers/losses.h"
#include "layers/nets.h"
#include "layers/param_visitor.h"
#include "layers/soft_argmax.h"
#include "layers/upsample.h"
#include "support/gradcheck.h"

using namespace keynet;
using namespace keynet::testing;

namespace {

void expect_gradients_pass(Module& module, const Tensor& x, Mode mode = Mode::Train,
                           const GradCheckOptions& options = {}) {
  to_dtype(module, DType::F64);
  const GradCheckReport report = check_module_gradients(module, x, mode, options);
  MESSAGE(module.describe(), ": ", report.summary());
  CHECK(report.passed());
}

Tensor random_input(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  return distinct_values(shape, rng);
}

// Wraps a module and corrupts its backward: the input gradient or one parameter gradient is scaled.
class CorruptedBackward : public Module {
 public:
  CorruptedBackward(Module& inner, double input_scale, double weight_scale)
      : inner_(inner), input_scale_(input_scale), weight_scale_(weight_scale) {}
  Tensor forward(const Tensor& x, Mode mode) override { return inner_.forward(x, mode); }
  Tensor backward(const Tensor& dy) override {
    Tensor dx = inner_.backward(dy);
    for (int64_t i = 0; i < dx.numel(); ++i) dx.data<double>()[i] *= input_scale_;
    Tensor& weight_grad = named_parameters(inner_).front().second->grad;
    weight_grad.data<double>()[0] *= weight_scale_;  // a single element
    return dx;
  }
  void visit(ParamVisitor& visitor, const std::string& prefix) override { inner_.visit(visitor, prefix); }
  std::string describe() const override { return "Corrupted(" + inner_.describe() + ")"; }

 private:
  Module& inner_;
  double input_scale_, weight_scale_;
};

// BatchNormReLU's forward with plain BatchNorm2d's backward: the ReLU's mask forgotten. Both layers share
// one weight and bias (the plain layer's, which the checker perturbs and reads).
class MasklessBatchNormReLU : public Module {
 public:
  explicit MasklessBatchNormReLU(int channels) : fused_(channels), plain_(channels) {
    to_dtype(fused_, DType::F64);
    to_dtype(plain_, DType::F64);
  }
  Tensor forward(const Tensor& x, Mode mode) override {
    fused_.weight().value = plain_.weight().value;  // the same storage: the checker's perturbations reach both
    fused_.bias().value = plain_.bias().value;
    plain_.forward(x, mode);
    return fused_.forward(x, mode);
  }
  Tensor backward(const Tensor& dy) override { return plain_.backward(dy); }
  void visit(ParamVisitor& visitor, const std::string& prefix) override { plain_.visit(visitor, prefix); }
  std::string describe() const override { return "Maskless(" + fused_.describe() + ")"; }
  BatchNorm2d& plain() { return plain_; }

 private:
  BatchNormReLU fused_;
  BatchNorm2d plain_;
};

// A soft-argmax whose backward is wrong in one term: its x and y terms scaled by x_scale and y_scale, by
// scaling the columns of dy it passes on (y_scale = -1: the y term's sign flipped; both 1 / beta: beta left
// out of the gradient).
class CorruptedSoftArgmax : public Module {
 public:
  CorruptedSoftArgmax(double beta, double x_scale, double y_scale)
      : inner_(beta), x_scale_(x_scale), y_scale_(y_scale) {}
  Tensor forward(const Tensor& x, Mode mode) override { return inner_.forward(x, mode); }
  Tensor backward(const Tensor& dy) override {
    Tensor scaled = dy.clone();
    for (int64_t i = 0; i < scaled.numel(); ++i) scaled.data<double>()[i] *= i % 2 == 0 ? x_scale_ : y_scale_;
    return inner_.backward(scaled);
  }
  std::string describe() const override { return "Corrupted(" + inner_.describe() + ")"; }

 private:
  SoftArgmax2d inner_;
  double x_scale_, y_scale_;
};

}  // namespace

TEST_CASE("the gradient checker fails a deliberately broken backward") {
  Rng rng(1);
  Conv2d conv(2, 3, 3, rng, 1, 1);
  to_dtype(conv, DType::F64);
  const Tensor x = random_input({2, 2, 5, 4}, 2);

  SUBCASE("correct backward passes") { CHECK(check_module_gradients(conv, x, Mode::Train).passed()); }
  SUBCASE("input gradient scaled by 1.01") {
    CorruptedBackward broken(conv, 1.01, 1.0);
    const GradCheckReport report = check_module_gradients(broken, x, Mode::Train);
    MESSAGE("broken input gradient: ", report.summary());
    CHECK_FALSE(report.passed());
  }
  SUBCASE("a single weight-gradient element scaled by 1.01") {
    CorruptedBackward broken(conv, 1.0, 1.01);
    const GradCheckReport report = check_module_gradients(broken, x, Mode::Train);
    MESSAGE("broken weight gradient: ", report.summary());
    CHECK(report.failed == 1);
  }
}

TEST_CASE("Conv2d gradients") {
  struct Case {
    int C, K, kernel, stride, pad;
    bool bias;
    int H, W;
  };
  const Case cases[] = {{3, 4, 3, 1, 1, true, 6, 5},  {3, 2, 3, 2, 0, false, 7, 6}, {2, 3, 1, 1, 0, true, 4, 5},
                        {2, 2, 5, 1, 2, true, 6, 6},  {1, 3, 5, 2, 3, false, 7, 5}, {2, 2, 7, 2, 3, true, 9, 8},
                        {3, 2, 3, 2, 1, true, 5, 5}};
  uint64_t seed = 10;
  for (const Case& c : cases) {
    Rng rng(seed++);
    Conv2d conv(c.C, c.K, c.kernel, rng, c.stride, c.pad, c.bias);
    expect_gradients_pass(conv, random_input({2, c.C, c.H, c.W}, seed++));
  }
}

TEST_CASE("Linear gradients") {
  Rng rng(3);
  Linear with_bias(7, 4, rng);
  expect_gradients_pass(with_bias, random_input({3, 7}, 4));
  Linear without_bias(5, 2, rng, false);
  expect_gradients_pass(without_bias, random_input({1, 5}, 5));
}

TEST_CASE("MaxPool2d gradients") {
  MaxPool2d pool2(2);
  expect_gradients_pass(pool2, random_input({2, 3, 6, 5}, 6));
  MaxPool2d pool3(3, 2, 1);
  expect_gradients_pass(pool3, random_input({2, 2, 7, 6}, 7));
}

TEST_CASE("ReLU, Flatten and GlobalAvgPool2d gradients") {
  ReLU relu;
  expect_gradients_pass(relu, random_input({2, 3, 4, 5}, 8));
  Flatten flatten;
  expect_gradients_pass(flatten, random_input({2, 3, 2, 2}, 9));
  GlobalAvgPool2d pool;
  expect_gradients_pass(pool, random_input({2, 3, 4, 5}, 10));
}

TEST_CASE("UpsampleNearest2d gradients") {
  UpsampleNearest2d by2(2);
  expect_gradients_pass(by2, random_input({2, 3, 3, 4}, 24));
  UpsampleNearest2d by3(3);
  expect_gradients_pass(by3, random_input({1, 2, 2, 3}, 25));
}

TEST_CASE("SoftArgmax2d gradients, and the checker fails a broken one") {
  // non-square maps; beta 3 makes the maps peaked, so the gradient's terms differ from cell to cell
  const Tensor x = random_input({2, 3, 4, 5}, 26);
  SUBCASE("correct backward passes") {
    for (double beta : {1.0, 3.0}) {
      SoftArgmax2d soft_argmax(beta);
      expect_gradients_pass(soft_argmax, x);
    }
    SoftArgmax2d column(1.0);
    expect_gradients_pass(column, random_input({1, 2, 3, 1}, 27));
  }
  SUBCASE("the y term's sign flipped") {
    CorruptedSoftArgmax broken(3.0, 1.0, -1.0);
    const GradCheckReport report = check_module_gradients(broken, x, Mode::Train);
    MESSAGE("y term's sign flipped: ", report.summary());
    CHECK_FALSE(report.passed());
  }
  SUBCASE("beta left out of the backward") {
    CorruptedSoftArgmax broken(3.0, 1.0 / 3.0, 1.0 / 3.0);
    const GradCheckReport report = check_module_gradients(broken, x, Mode::Train);
    MESSAGE("beta left out: ", report.summary());
    CHECK_FALSE(report.passed());
  }
}

TEST_CASE("BatchNorm2d gradients in train mode") {
  BatchNorm2d bn(3);
  to_dtype(bn, DType::F64);
  Rng rng(11);
  bn.weight().value = Tensor::uniform({3}, rng, 0.5, 1.5, DType::F64);
  bn.bias().value = Tensor::uniform({3}, rng, -0.5, 0.5, DType::F64);
  expect_gradients_pass(bn, random_input({2, 3, 4, 3}, 12));
}

TEST_CASE("BatchNormReLU gradients in train mode, and the checker fails a broken one") {
  // gamma of both signs, so that the ReLU cuts either tail of a channel; the seeds keep every BN output
  // far enough from the kink at 0 for central differences
  const auto parameters = [](BatchNorm2d& bn, uint64_t seed) {
    Rng rng(seed);
    bn.weight().value = Tensor::uniform({3}, rng, 0.5, 1.5, DType::F64);
    bn.weight().value.data<double>()[1] *= -1;
    bn.bias().value = Tensor::uniform({3}, rng, -0.5, 0.5, DType::F64);
  };
  const Tensor x = random_input({2, 3, 4, 3}, 22);
  BatchNormReLU fused(3);
  to_dtype(fused, DType::F64);
  parameters(fused, 21);
  SUBCASE("correct backward passes") { expect_gradients_pass(fused, x); }
  SUBCASE("input gradient scaled by 1.01") {
    CorruptedBackward broken(fused, 1.01, 1.0);
    const GradCheckReport report = check_module_gradients(broken, x, Mode::Train);
    MESSAGE("broken input gradient: ", report.summary());
    CHECK_FALSE(report.passed());
  }
  SUBCASE("a single gamma-gradient element scaled by 1.01") {
    CorruptedBackward broken(fused, 1.0, 1.01);
    const GradCheckReport report = check_module_gradients(broken, x, Mode::Train);
    MESSAGE("broken gamma gradient: ", report.summary());
    CHECK(report.failed == 1);
  }
  SUBCASE("the ReLU mask left out of the backward") {
    MasklessBatchNormReLU maskless(3);
    parameters(maskless.plain(), 21);
    const GradCheckReport report = check_module_gradients(maskless, x, Mode::Train);
    MESSAGE("maskless backward: ", report.summary());
    CHECK_FALSE(report.passed());
  }
}

TEST_CASE("a synchronised BatchNormReLU's gradients on one rank: the split ops compose to the layer's gradient") {
  class OneRank : public RankSum {  // the sums of a job of one rank: this batch's own
   public:
    void sum(Tensor&) override { ++sums; }
    int64_t global_batch(int64_t local_batch) override { return local_batch; }
    int sums = 0;
  } rank;
  BatchNormReLU bn(3);
  to_dtype(bn, DType::F64);
  Rng rng(21);
  bn.weight().value = Tensor::uniform({3}, rng, 0.5, 1.5, DType::F64);
  bn.weight().value.data<double>()[1] *= -1;
  bn.bias().value = Tensor::uniform({3}, rng, -0.5, 0.5, DType::F64);
  synchronise_batch_norms(bn, &rank);
  expect_gradients_pass(bn, random_input({2, 3, 4, 3}, 22));
  CHECK(rank.sums > 0);  // the synchronised path ran
}

TEST_CASE("BasicBlock gradients with and without downsample") {
  Rng rng(13);
  BasicBlock identity(3, 3, 1, rng);
  CHECK_FALSE(identity.has_downsample());
  expect_gradients_pass(identity, random_input({2, 3, 5, 4}, 14));
  BasicBlock projected(2, 4, 2, rng);
  CHECK(projected.has_downsample());
  expect_gradients_pass(projected, random_input({2, 2, 6, 5}, 15));
}

TEST_CASE("a small ResNet-like stack end to end") {
  Rng rng(16);
  Sequential net;
  net.emplace<Conv2d>("conv1", 2, 4, 3, rng, 1, 1, false);
  net.emplace<BatchNorm2d>("bn1", 4);
  net.emplace<ReLU>("relu");
  net.emplace<MaxPool2d>("maxpool", 3, 2, 1);
  net.emplace<BasicBlock>("block1", 4, 4, 1, rng);
  net.emplace<BasicBlock>("block2", 4, 6, 2, rng);
  net.emplace<GlobalAvgPool2d>("avgpool");
  net.emplace<Linear>("fc", 6, 3, rng);
  expect_gradients_pass(net, random_input({2, 2, 8, 7}, 17));
}

TEST_CASE("the reference nets' shapes chain and their gradients check (tiny inputs)") {
  Rng rng(18);
  auto nose = make_nose_net(rng, 28, 32, 2);
  GradCheckOptions sampled;
  sampled.max_checks_per_variable = 48;  // ~23k parameters: a full check would take minutes
  expect_gradients_pass(*nose, random_input({1, 1, 28, 32}, 19), Mode::Train, sampled);
  // with batch norm: conv -> BatchNormReLU -> pool stages
  auto bn_net = make_conv_net({.stages = {{3, 3}, {4, 3}}, .hidden = {6}, .batch_norm = true}, 12, 10, 2, rng);
  expect_gradients_pass(*bn_net, random_input({2, 1, 12, 10}, 23));
}

TEST_CASE("MSE, L1 and Wing loss gradients") {
  Rng rng(20);
  Tensor pred = distinct_values({3, 4}, rng);
  Tensor target = Tensor::normal({3, 4}, rng, 0.0, 1.0, DType::F64);
  const char* names[] = {"MSELoss: ", "L1Loss: ", "WingLoss: "};
  for (int which = 0; which < 3; ++which) {
    MSELoss mse;
    L1Loss l1;
    WingLoss wing({.w = 0.3, .epsilon = 0.1});  // the errors here fall on both pieces
    Loss& loss = which == 0 ? static_cast<Loss&>(mse) : which == 1 ? static_cast<Loss&>(l1) : wing;
    auto forward = [&]() { return loss.forward(pred, target); };
    auto analytic = [&](const Tensor& R) {
      loss.forward(pred, target);
      return std::vector<Tensor>{loss.backward(R.at({0}))};
    };
    const GradCheckReport report = check_gradients({{"pred", pred}}, forward, analytic);
    MESSAGE(std::string(names[which]), report.summary());
    CHECK(report.passed());
  }
}
