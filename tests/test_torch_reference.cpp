// keynet against PyTorch itself: a small ResNet-style network (conv, BatchNorm, ReLU, max pool,
// torchvision's BasicBlock with downsample, global average pool, linear) whose state, input and
// PyTorch's outputs and gradients were recorded by tests/fixtures/generators/make_torch_block_reference.py.
// The state file was written by Python, so this also reads a foreign safetensors checkpoint.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "layers/resnet.h"

using namespace keynet;

namespace {

Tensor tensor_of(const SafetensorsFile& file, const std::string& name) {
  const auto found = file.tensors.find(name);
  REQUIRE_MESSAGE(found != file.tensors.end(), "fixture lacks ", name);
  REQUIRE(found->second.dtype == "F32");
  Tensor t = Tensor::empty(found->second.shape);
  std::memcpy(t.raw(), found->second.data.data(), t.bytes());
  return t;
}

// Largest |got - want| relative to the largest |want|.
double relative_error(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<float> a = got.to_float_vector(), b = want.to_float_vector();
  double worst = 0, scale = 1e-12;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, double(std::abs(a[i] - b[i])));
    scale = std::max(scale, double(std::abs(b[i])));
  }
  return worst / scale;
}

std::unique_ptr<Sequential> make_network() {
  Rng rng(0);  // overwritten by the checkpoint
  auto net = std::make_unique<Sequential>();
  net->emplace<Conv2d>("conv1", 2, 4, 3, rng, 1, 1, false);
  net->emplace<BatchNorm2d>("bn1", 4);
  net->emplace<ReLU>("relu");
  net->emplace<MaxPool2d>("maxpool", 3, 2, 1);
  net->emplace<BasicBlock>("block", 4, 8, 2, rng);
  net->emplace<GlobalAvgPool2d>("avgpool");
  net->emplace<Linear>("fc", 8, 3, rng);
  return net;
}

}  // namespace

TEST_CASE("a ResNet-style network matches PyTorch: outputs, gradients, running statistics, eval mode") {
  const SafetensorsFile io = read_safetensors(KEYNET_FIXTURES_DIR "/torch_block_io.safetensors");
  for (const Impl impl : {Impl::Ref, Impl::Fast}) {
    const std::string impl_name = to_string(impl);
    CAPTURE(impl_name);
    auto net = make_network();
    net->set_impl(impl);
    load_module(*net, KEYNET_FIXTURES_DIR "/torch_block_state.safetensors");

    const Tensor x = tensor_of(io, "input");
    const Tensor y = net->forward(x, Mode::Train);
    CHECK(relative_error(y, tensor_of(io, "train_output")) < 1e-5);

    const Tensor dx = net->backward(tensor_of(io, "R"));
    CHECK(relative_error(dx, tensor_of(io, "input_grad")) < 1e-4);
    int checked = 0;
    for (auto& [name, p] : named_parameters(*net)) {
      CAPTURE(name);
      CHECK(relative_error(p->grad, tensor_of(io, "grad." + name)) < 1e-4);
      ++checked;
    }
    for (auto& [name, buffer] : named_buffers(*net)) {
      CAPTURE(name);
      CHECK(relative_error(*buffer, tensor_of(io, "after_step." + name)) < 1e-5);
      ++checked;
    }
    CHECK(checked == 22);  // 14 parameters + 8 running statistics

    CHECK(relative_error(net->forward(x, Mode::Eval), tensor_of(io, "eval_output")) < 1e-5);
  }
}
