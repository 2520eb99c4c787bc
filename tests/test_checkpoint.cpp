// Checkpoints: bitwise round trips, torchvision names, strict refusal of mismatched files and of NaN or Inf
// in any tensor, exact resume; models stored as F16 or BF16 (each value rounded once, refused when out of range).
#include <doctest/doctest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <fstream>
#include <functional>
#include <sstream>
#include <tuple>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/half.h"
#include "io/safetensors.h"
#include "layers/losses.h"
#include "layers/nets.h"
#include "layers/param_visitor.h"
#include "support/errors.h"
#include "train/step.h"

using namespace keynet;
using keynet::testing::error_of;
namespace fs = std::filesystem;

namespace {

fs::path scratch_dir() {
  const fs::path dir = fs::temp_directory_path() / ("keynet_checkpoint_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}


bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

// Every parameter and buffer of two modules, compared bit for bit.
bool same_state(Module& a, Module& b) {
  auto pa = named_parameters(a), pb = named_parameters(b);
  auto ba = named_buffers(a), bb = named_buffers(b);
  if (pa.size() != pb.size() || ba.size() != bb.size()) return false;
  for (std::size_t i = 0; i < pa.size(); ++i)
    if (pa[i].first != pb[i].first || !bitwise_equal(pa[i].second->value, pb[i].second->value)) return false;
  for (std::size_t i = 0; i < ba.size(); ++i)
    if (ba[i].first != bb[i].first || !bitwise_equal(*ba[i].second, *bb[i].second)) return false;
  return true;
}

// Collects "name [shape] dtype" lines in visiting order, as the torchvision fixture lists them.
class StateLister : public ParamVisitor {
 public:
  std::vector<std::string> lines;
  void parameter(const std::string& name, Parameter& p) override { lines.push_back(name + " " + to_string(p.value.shape()) + " float32"); }
  void buffer(const std::string& name, Tensor& t) override { lines.push_back(name + " " + to_string(t.shape()) + " float32"); }
  void counter(const std::string& name, int64_t&) override { lines.push_back(name + " [] int64"); }
};

void train_steps(Module& net, Optimizer& optimizer, int steps, uint64_t seed) {
  Rng rng(seed);
  MSELoss loss;
  for (int i = 0; i < steps; ++i) {
    const Tensor x = Tensor::normal({4, 1, 60, 80}, rng, 0.0, 0.5);
    const Tensor y = Tensor::uniform({4, 2}, rng, -0.5, 0.5);
    train::step(net, loss, optimizer, x, y);
  }
}

}  // namespace

TEST_CASE("ResNet18's state names, shapes and dtypes equal torchvision's resnet18 state_dict") {
  std::ifstream fixture(KEYNET_FIXTURES_DIR "/resnet18_state_dict.txt");
  REQUIRE(fixture.good());
  std::vector<std::string> expected;
  for (std::string line; std::getline(fixture, line);)
    if (!line.empty() && line[0] != '#') expected.push_back(line);
  REQUIRE(expected.size() == 122);

  Rng rng(1);
  ResNet18 net(1, 136, rng);
  StateLister lister;
  net.visit(lister, "");
  REQUIRE(lister.lines.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(lister.lines[i] == expected[i]);
  CHECK(parameter_count(net) == 11240008);  // sum(p.numel() for p in model.parameters()) in torchvision
}

TEST_CASE("save then load is bitwise identical, with metadata, and leaves no temporary file") {
  const fs::path dir = scratch_dir();
  const std::string path = (dir / "resnet.safetensors").string();
  Rng rng(2);
  ResNet18 trained(1, 136, rng);
  Adam adam(trained, {});
  Rng data_rng(3);
  MSELoss loss;
  const Tensor x = Tensor::normal({2, 1, 64, 64}, data_rng, 0.0, 1.0);
  train::step(trained, loss, adam, x, Tensor::zeros({2, 136}));  // also moves BN running stats
  save_module(trained, path, {{"epoch", "7"}});
  CHECK_FALSE(fs::exists(path + ".tmp"));

  Rng other_rng(99);
  ResNet18 restored(1, 136, other_rng);
  CHECK_FALSE(same_state(trained, restored));
  const auto metadata = load_module(restored, path);
  CHECK(same_state(trained, restored));
  CHECK(metadata.at("epoch") == "7");
  fs::remove_all(dir);
}

TEST_CASE("a checkpoint that does not fit is refused with every problem listed") {
  const fs::path dir = scratch_dir();
  Rng rng(4);
  auto nose = make_nose_net(rng);
  const std::string path = (dir / "nose.safetensors").string();
  save_module(*nose, path);

  SUBCASE("missing and extra keys and a wrong shape") {
    auto file = read_safetensors(path);
    file.tensors.erase("0.bias");                       // missing
    file.tensors["9.weight"] = file.tensors["0.weight"];  // extra
    file.tensors["3.weight"].shape = {24, 12, 5, 4};     // wrong shape (same byte count is not needed: refused first)
    file.tensors["3.weight"].data.resize(24 * 12 * 5 * 4 * 4);
    write_safetensors(path, file);
    const std::string message = error_of([&] { load_module(*nose, path); });
    MESSAGE(message);
    CHECK(message.find(path) != std::string::npos);
    CHECK(message.find("3 problems") != std::string::npos);
    CHECK(message.find("missing key '0.bias'") != std::string::npos);
    CHECK(message.find("unexpected key '9.weight'") != std::string::npos);
    CHECK(message.find("'3.weight' has shape [24,12,5,4], expected [24,12,5,5]") != std::string::npos);
  }
  SUBCASE("wrong dtype") {
    auto file = read_safetensors(path);
    auto& entry = file.tensors["0.bias"];
    entry.dtype = "F64";
    entry.data.resize(entry.data.size() * 2);
    write_safetensors(path, file);
    const std::string message = error_of([&] { load_module(*nose, path); });
    CHECK(message.find("'0.bias' has dtype F64, expected F32") != std::string::npos);
  }
  SUBCASE("a model of another architecture") {
    Rng other(5);
    auto face = make_face_net(other);
    const std::string message = error_of([&] { load_module(*face, path); });
    CHECK(message.find("does not match") != std::string::npos);
  }
  SUBCASE("truncated, empty, missing and garbage files") {
    const auto size = fs::file_size(path);
    fs::resize_file(path, size - 100);
    CHECK(error_of([&] { load_module(*nose, path); }).find("truncated") != std::string::npos);
    std::ofstream(path, std::ios::trunc).close();
    CHECK(error_of([&] { load_module(*nose, path); }).find("not a safetensors file") != std::string::npos);
    {
      std::ofstream garbage(path, std::ios::binary | std::ios::trunc);
      const uint64_t header = 5;
      garbage.write(reinterpret_cast<const char*>(&header), 8);
      garbage << "{oops";
    }
    CHECK(error_of([&] { load_module(*nose, path); }).find("not valid JSON") != std::string::npos);
    CHECK(error_of([&] { load_module(*nose, (dir / "absent.safetensors").string()); }).find("cannot open") !=
          std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("model and optimizer checkpoints resume training exactly") {
  const fs::path dir = scratch_dir();
  const std::string path = (dir / "nose.safetensors").string();
  Rng rng(6);
  auto net = make_nose_net(rng);
  Adam adam(*net, {});
  train_steps(*net, adam, 3, 100);
  save_module(*net, path);
  save_optimizer(adam, optimizer_state_path(path));
  CHECK(fs::exists(dir / "nose.optim.safetensors"));
  train_steps(*net, adam, 2, 200);

  Rng other(7);
  auto resumed = make_nose_net(other);
  Adam resumed_adam(*resumed, {});
  load_module(*resumed, path);
  load_optimizer(resumed_adam, optimizer_state_path(path));
  CHECK(resumed_adam.steps_taken() == 3);
  train_steps(*resumed, resumed_adam, 2, 200);
  CHECK(same_state(*net, *resumed));
  fs::remove_all(dir);
}

namespace {

// A small net with BatchNorm (running statistics are buffers, checked like the weights).
std::unique_ptr<Sequential> make_bn_net(Rng& rng) {
  ConvNetSpec spec;
  spec.stages = {{.channels = 4, .kernel = 3}, {.channels = 8, .kernel = 3}};
  spec.batch_norm = true;
  return make_conv_net(spec, 16, 16, 2, rng);
}

// Element `index` of the named parameter or buffer.
float& element(Module& module, const std::string& name, int64_t index) {
  Tensor* found = nullptr;
  for (auto& [n, p] : named_parameters(module))
    if (n == name) found = &p->value;
  for (auto& [n, t] : named_buffers(module))
    if (n == name) found = t;
  REQUIRE(found != nullptr);
  return found->data<float>()[index];
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a checkpoint holding NaN or Inf is refused, naming the file and the tensor, and nothing is loaded") {
  const fs::path dir = scratch_dir();
  const std::string path = (dir / "model.safetensors").string();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // A refused load leaves the target as it was: it is compared with a twin built from the same seed.
  const auto refused = [&](Module& target, Module& twin, const std::function<void()>& load) {
    const std::string message = error_of(load);
    MESSAGE(message);
    CHECK(same_state(target, twin));
    return message;
  };

  SUBCASE("one NaN bias") {
    Rng rng(11);
    auto net = make_nose_net(rng);
    element(*net, "0.bias", 3) = nan;
    save_module(*net, path);
    Rng again(12), twin_rng(12);
    auto target = make_nose_net(again), twin = make_nose_net(twin_rng);
    const std::string message = refused(*target, *twin, [&] { load_module(*target, path); });
    CHECK(contains(message, path + ": the tensor '0.bias' holds 1 non-finite value (first: nan at index 3); "
                                   "the file is damaged or was saved from a diverged run"));
  }
  SUBCASE("one Inf weight, and a second tensor counted") {
    Rng rng(13);
    auto net = make_nose_net(rng);
    element(*net, "3.weight", 10) = inf;
    element(*net, "3.weight", 20) = -inf;
    element(*net, "6.bias", 0) = nan;
    save_module(*net, path);
    Rng again(14), twin_rng(14);
    auto target = make_nose_net(again), twin = make_nose_net(twin_rng);
    const std::string message = refused(*target, *twin, [&] { load_module(*target, path); });
    CHECK(contains(message, "the tensor '3.weight' holds 2 non-finite values (first: inf at index 10), and 1 more "
                            "tensor does too"));
  }
  SUBCASE("a NaN BatchNorm running mean") {
    Rng rng(15);
    auto net = make_bn_net(rng);
    std::string running_mean;
    for (auto& [name, t] : named_buffers(*net))
      if (running_mean.empty() && name.ends_with(".running_mean")) running_mean = name;
    REQUIRE_FALSE(running_mean.empty());
    element(*net, running_mean, 2) = nan;
    save_module(*net, path);
    Rng again(16), twin_rng(16);
    auto target = make_bn_net(again), twin = make_bn_net(twin_rng);
    const std::string message = refused(*target, *twin, [&] { load_module(*target, path); });
    CHECK(contains(message, "the tensor '" + running_mean + "' holds 1 non-finite value (first: nan at index 2)"));
  }
  SUBCASE("a NaN in an optimizer moment (the trainer's --resume reads the same way)") {
    Rng rng(17);
    auto net = make_nose_net(rng);
    Adam adam(*net, {});
    train_steps(*net, adam, 1, 300);
    const std::string optim_path = optimizer_state_path(path);
    save_optimizer(adam, optim_path);
    auto file = read_safetensors(optim_path);
    std::vector<uint8_t>& data = file.tensors.at("3.weight.exp_avg_sq").data;
    std::memcpy(data.data() + 5 * sizeof(float), &nan, sizeof(float));
    write_safetensors(optim_path, file);
    Adam fresh(*net, {});
    const std::string message = error_of([&] { load_optimizer(fresh, optim_path); });
    MESSAGE(message);
    CHECK(contains(message, optim_path + ": the tensor '3.weight.exp_avg_sq' holds 1 non-finite value (first: nan "
                                         "at index 5)"));
    CHECK(fresh.steps_taken() == 0);  // nothing was loaded
  }
  fs::remove_all(dir);
}

namespace {

// Every parameter's and buffer's values, in visiting order, as float32.
std::vector<float> all_values(Module& module) {
  std::vector<float> values;
  auto append = [&](const Tensor& t) {
    const Tensor host = t.to(Device::CPU);
    for (int64_t i = 0; i < host.numel(); ++i)
      values.push_back(host.dtype() == DType::F32 ? host.data<float>()[i] : static_cast<float>(host.data<double>()[i]));
  };
  for (auto& [name, p] : named_parameters(module)) append(p->value);
  for (auto& [name, t] : named_buffers(module)) append(*t);
  return values;
}

}  // namespace

TEST_CASE("a module saved as F16 or BF16 loads back as float32, each value rounded to nearest once") {
  const fs::path dir = scratch_dir();
  struct Case {
    FloatStorage storage;
    const char* dtype;
    float tenth;  // 0.1f rounded: F16 0x2e66, BF16 0x3dcd (numpy and PyTorch agree)
    uint16_t (*narrow)(float);
    float (*widen)(uint16_t);
  };
  for (const Case& c : {Case{FloatStorage::F16, "F16", 0.0999755859375f, float_to_f16, f16_to_float},
                        Case{FloatStorage::BF16, "BF16", 0.10009765625f, float_to_bf16, bf16_to_float}}) {
    INFO(c.dtype);
    Rng rng(21);
    auto net = make_bn_net(rng);
    element(*net, "0.weight", 0) = 0.375f;      // exact in both: survives bit for bit
    element(*net, "0.weight", 1) = -0x1p-24f;   // F16's smallest subnormal, a normal BF16
    element(*net, "0.weight", 2) = 0.1f;        // exact in neither
    const std::string wide = (dir / "wide.safetensors").string(), narrow = (dir / "narrow.safetensors").string();
    save_module(*net, wide, {{"keynet.app", "test"}});
    save_module(*net, narrow, {{"keynet.app", "test"}}, c.storage);
    const SafetensorsFile wide_file = read_safetensors(wide), narrow_file = read_safetensors(narrow);
    CHECK(narrow_file.metadata == wide_file.metadata);
    REQUIRE(narrow_file.tensors.size() == wide_file.tensors.size());
    for (const auto& [name, entry] : narrow_file.tensors) {
      const SafetensorsEntry& original = wide_file.tensors.at(name);
      INFO(name);
      CHECK(entry.dtype == (original.dtype == "I64" ? std::string("I64") : std::string(c.dtype)));
      CHECK(entry.shape == original.shape);
      CHECK(entry.data.size() == (original.dtype == "I64" ? original.data.size() : original.data.size() / 2));
    }

    Rng other(22);
    auto loaded = make_bn_net(other);
    load_module(*loaded, narrow);
    CHECK(element(*loaded, "0.weight", 0) == 0.375f);
    CHECK(element(*loaded, "0.weight", 1) == -0x1p-24f);
    CHECK(element(*loaded, "0.weight", 2) == c.tenth);
    const std::vector<float> before = all_values(*net), after = all_values(*loaded);
    REQUIRE(before.size() == after.size());
    int differ = 0;
    for (std::size_t i = 0; i < before.size(); ++i)
      differ += std::bit_cast<uint32_t>(after[i]) != std::bit_cast<uint32_t>(c.widen(c.narrow(before[i])));
    CHECK(differ == 0);

    // An F64 module takes the same values, widened exactly.
    Rng third(23);
    auto wide_net = make_bn_net(third);
    to_dtype(*wide_net, DType::F64);
    load_module(*wide_net, narrow);
    CHECK(all_values(*wide_net) == after);
  }
  fs::remove_all(dir);
}

TEST_CASE("saving as F16 refuses a value beyond F16's range, naming the file and the tensor; BF16 holds it; F64 is refused") {
  const fs::path dir = scratch_dir();
  const std::string path = (dir / "big.safetensors").string();
  Rng rng(24);
  auto net = make_nose_net(rng);
  element(*net, "3.weight", 7) = 70000.0f;
  const std::string message = error_of([&] { save_module(*net, path, {}, FloatStorage::F16); });
  MESSAGE(message);
  CHECK(contains(message, path + ": tensor '3.weight' holds 70000 at index 7, beyond the range of F16 (largest 65504)"));
  CHECK_FALSE(fs::exists(path));
  save_module(*net, path, {}, FloatStorage::BF16);
  Rng other(25);
  auto loaded = make_nose_net(other);
  load_module(*loaded, path);
  CHECK(element(*loaded, "3.weight", 7) == 70144.0f);  // BF16's nearest: 0x4789
  to_dtype(*net, DType::F64);
  CHECK(contains(error_of([&] { save_module(*net, path, {}, FloatStorage::F16); }),
                 path + ": tensor '0.bias' is F64; only F32 tensors are stored as F16"));
  fs::remove_all(dir);
}

TEST_CASE("an F16 or BF16 file holding Inf or NaN is refused, naming the tensor, and nothing is loaded") {
  const fs::path dir = scratch_dir();
  const std::string path = (dir / "model.safetensors").string();
  for (const auto& [storage, planted, shown] :
       {std::tuple{FloatStorage::F16, uint16_t{0x7c00}, "inf"}, std::tuple{FloatStorage::F16, uint16_t{0xfe00}, "nan"},
        std::tuple{FloatStorage::BF16, uint16_t{0xff80}, "-inf"}, std::tuple{FloatStorage::BF16, uint16_t{0x7fc0}, "nan"}}) {
    INFO(std::string(shown));
    Rng rng(26);
    auto net = make_nose_net(rng);
    save_module(*net, path, {}, storage);
    SafetensorsFile file = read_safetensors(path);
    std::memcpy(file.tensors.at("6.bias").data.data() + 2 * 4, &planted, 2);
    write_safetensors(path, file);
    Rng again(27), twin_rng(27);
    auto target = make_nose_net(again), twin = make_nose_net(twin_rng);
    const std::string message = error_of([&] { load_module(*target, path); });
    MESSAGE(message);
    CHECK(same_state(*target, *twin));
    CHECK(contains(message, path + ": the tensor '6.bias' holds 1 non-finite value (first: " + shown + " at index 4)"));
  }
  fs::remove_all(dir);
}

namespace {

// A safetensors file with two F32 tensors of two elements each at the given data offsets, over
// `data_bytes` bytes of data.
std::string two_tensor_file(const fs::path& dir, const std::string& name, uint64_t a0, uint64_t a1, uint64_t b0,
                            uint64_t b1, uint64_t data_bytes, const std::string& b_shape = "[2]") {
  const std::string header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + std::to_string(a0) + "," +
                             std::to_string(a1) + "]},\"b\":{\"dtype\":\"F32\",\"shape\":" + b_shape + ",\"data_offsets\":[" +
                             std::to_string(b0) + "," + std::to_string(b1) + "]}}";
  const std::string path = (dir / name).string();
  std::ofstream out(path, std::ios::binary);
  const uint64_t size = header.size();
  out.write(reinterpret_cast<const char*>(&size), 8);
  out << header << std::string(data_bytes, '\0');
  return path;
}

}  // namespace

TEST_CASE("safetensors whose tensors overlap or leave holes in the data section are refused") {
  const fs::path dir = scratch_dir();
  CHECK(read_safetensors(two_tensor_file(dir, "tiled.safetensors", 0, 8, 8, 16, 16)).tensors.size() == 2);
  CHECK(contains(error_of([&] { read_safetensors(two_tensor_file(dir, "overlap.safetensors", 0, 8, 4, 12, 12)); }),
                 "overlap.safetensors: tensors 'a' and 'b' overlap in the data section"));
  CHECK(contains(error_of([&] { read_safetensors(two_tensor_file(dir, "same.safetensors", 0, 8, 0, 8, 8)); }),
                 "overlap in the data section"));
  CHECK(contains(error_of([&] { read_safetensors(two_tensor_file(dir, "hole.safetensors", 0, 8, 12, 20, 20)); }),
                 "hole.safetensors: bytes 8 to 12 of the data section belong to no tensor"));
  CHECK(contains(error_of([&] { read_safetensors(two_tensor_file(dir, "tail.safetensors", 0, 8, 8, 16, 24)); }),
                 "tail.safetensors: bytes 16 to 24 of the data section belong to no tensor"));
  // A byte range longer or shorter than the shape needs, a negative dimension, a count past 64 bits.
  CHECK(contains(error_of([&] { read_safetensors(two_tensor_file(dir, "long.safetensors", 0, 8, 8, 20, 20)); }),
                 "long.safetensors: tensor 'b' has 12 bytes, its shape and dtype need 8"));
  CHECK(contains(error_of([&] { read_safetensors(two_tensor_file(dir, "short.safetensors", 0, 8, 8, 12, 12)); }),
                 "tensor 'b' has 4 bytes, its shape and dtype need 8"));
  CHECK(contains(error_of([&] { read_safetensors(two_tensor_file(dir, "neg.safetensors", 0, 8, 8, 16, 16, "[-1,-2]")); }),
                 "neg.safetensors: tensor 'b' has a negative dimension (-1)"));
  CHECK(contains(error_of([&] {
                   read_safetensors(two_tensor_file(dir, "huge.safetensors", 0, 8, 8, 8, 8, "[4294967296,4294967296]"));
                 }),
                 "huge.safetensors: tensor 'b' has a shape too large to address"));
}
