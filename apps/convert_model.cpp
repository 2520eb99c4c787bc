// convert_model: stores a keynet model file's float32 tensors as F16 (or BF16), half the bytes, keeping
// the model card and every other metadata key as they are; the apps widen them back to float32 on load.
// This is how the models in models/ were made from the trained F32 files (RESULTS.md, "Shipped models
// in F16", has the check that their predictions did not move):
//
//   ./build/convert_model models/nose_tip.safetensors models/face_points.safetensors ...   (in place)
//   ./build/convert_model --dtype BF16 run/checkpoints/last.safetensors --out model.safetensors
//
// Only model files (with a model card) are converted: an optimizer's state is refused, and training
// checkpoints are never narrowed by the trainer, since --resume continues them bit for bit.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "io/half.h"
#include "io/safetensors.h"
#include "tensor/version.h"
#include "train/model_file.h"

using namespace keynet;

namespace {

// The largest change narrowing made to one value, and where.
struct Change {
  double largest = 0;
  std::string tensor;
};

Change largest_change(const SafetensorsFile& wide, const SafetensorsFile& narrow) {
  Change change;
  for (const auto& [name, entry] : narrow.tensors) {
    const SafetensorsEntry& original = wide.tensors.at(name);
    if (original.dtype != "F32" || entry.dtype == "F32") continue;
    std::vector<float> values(original.data.size() / 4);
    std::memcpy(values.data(), original.data.data(), original.data.size());
    std::vector<float> widened(values.size());
    widen_half(entry, widened.data(), widened.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double d = std::fabs(static_cast<double>(widened[i]) - values[i]);
      if (d > change.largest) change = {d, name};
    }
  }
  return change;
}

void convert(const std::string& in, const std::string& out, const std::string& dtype) {
  const SafetensorsFile wide = read_safetensors(in);
  const auto bytes_before = std::filesystem::file_size(in);
  train::ModelCard::from_metadata(wide.metadata, in);  // refuses a file that is not a model
  int narrowed = 0;
  for (const auto& [name, entry] : wide.tensors) {
    KEYNET_CHECK(entry.dtype == "F32" || entry.dtype == "I64" || entry.dtype == dtype, in, ": tensor '", name,
                 "' is already ", entry.dtype, "; convert the F32 original instead");
    narrowed += entry.dtype == "F32";
  }
  if (narrowed == 0 && in == out) {
    std::cout << in << ": already " << dtype << ", left as it is\n";
    return;
  }
  SafetensorsFile narrow = wide;
  narrow_float_tensors(narrow, parse_float_storage(dtype), in);
  write_safetensors(out, narrow);
  const Change change = largest_change(wide, narrow);
  std::cout << out << ": " << narrowed << " F32 tensors stored as " << dtype << ", "
            << bytes_before << " -> " << std::filesystem::file_size(out)
            << " bytes; largest change of a value " << change.largest
            << (change.tensor.empty() ? "" : " (in '" + change.tensor + "')") << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Stores keynet model files' float32 tensors as F16 or BF16 (half the size), metadata unchanged"};
  std::vector<std::string> models;
  std::string dtype = "F16", out;
  app.add_option("models", models, "model files, each rewritten in place unless --out is given")->required();
  app.add_option("--dtype", dtype, "F16 (10-bit mantissa, largest 65504) or BF16 (7-bit mantissa, float32's range)")
      ->check(CLI::IsMember({"F16", "BF16"}));
  app.add_option("--out", out, "where the converted model goes (one model only)");
  app.set_version_flag("--version", keynet::version_line("convert_model"));
  CLI11_PARSE(app, argc, argv);
  if (!out.empty() && models.size() != 1) {
    std::cerr << "convert_model: --out takes one model, " << models.size() << " were given\n";
    return 1;
  }
  try {
    for (const std::string& model : models) convert(model, out.empty() ? model : out, dtype);
  } catch (const Error& error) {
    std::cerr << "convert_model: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
