#include "io/checkpoint.h"

#include <cmath>
#include <cstring>
#include <functional>

#include "io/safetensors.h"
#include "layers/param_visitor.h"

namespace keynet {

namespace {

// One named piece of state: a tensor (parameter value or buffer) or an int64 counter.
struct StateSlot {
  Tensor* tensor = nullptr;
  int64_t* counter = nullptr;
};

class SlotCollector : public ParamVisitor {
 public:
  std::map<std::string, StateSlot> slots;
  void parameter(const std::string& name, Parameter& p) override { slots[name].tensor = &p.value; }
  void buffer(const std::string& name, Tensor& t) override { slots[name].tensor = &t; }
  void counter(const std::string& name, int64_t& value) override { slots[name].counter = &value; }
};

const char* safetensors_dtype(DType dtype) { return dtype == DType::F32 ? "F32" : "F64"; }

SafetensorsFile to_file(const std::map<std::string, StateSlot>& slots) {
  SafetensorsFile file;
  for (const auto& [name, slot] : slots) {
    SafetensorsEntry entry;
    if (slot.counter) {
      entry.dtype = "I64";
      entry.data.resize(8);
      std::memcpy(entry.data.data(), slot.counter, 8);
    } else {
      const Tensor host = slot.tensor->to(Device::CPU);
      entry.dtype = safetensors_dtype(host.dtype());
      entry.shape = host.shape();
      entry.data.resize(host.bytes());
      std::memcpy(entry.data.data(), host.raw(), host.bytes());
    }
    file.tensors.emplace(name, std::move(entry));
  }
  return file;
}

// The non-finite values of a float tensor: how many, and the first (index and value).
struct NonFinite {
  int64_t count = 0, first = -1;
  double value = 0;
};

template <class T>
NonFinite non_finite_values(const T* data, int64_t n) {
  NonFinite found;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isfinite(data[i])) continue;
    if (found.count++ == 0) {
      found.first = i;
      found.value = static_cast<double>(data[i]);
    }
  }
  return found;
}

// A NaN or Inf in a weight, a running statistic or an optimizer moment would only come out later as NaN
// predictions or a NaN loss, far from its cause: refuse the file, naming the first such tensor.
void check_finite(const std::map<std::string, Tensor>& values, const std::string& path) {
  std::string first_name;
  NonFinite first;
  int tensors = 0;
  for (const auto& [name, host] : values) {
    const NonFinite found = host.dtype() == DType::F32
                                ? non_finite_values(static_cast<const float*>(host.raw()), host.numel())
                                : non_finite_values(static_cast<const double*>(host.raw()), host.numel());
    if (found.count == 0) continue;
    if (tensors++ == 0) {
      first_name = name;
      first = found;
    }
  }
  if (tensors == 0) return;
  const char* value = std::isnan(first.value) ? "nan" : first.value > 0 ? "inf" : "-inf";
  KEYNET_FAIL(path, ": the tensor '", first_name, "' holds ", first.count, " non-finite value",
              first.count == 1 ? "" : "s", " (first: ", value, " at index ", first.first, ")",
              tensors == 1   ? std::string()
              : tensors == 2 ? std::string(", and 1 more tensor does too")
                             : ", and " + std::to_string(tensors - 1) + " more tensors do too",
              "; the file is damaged or was saved from a diverged run");
}

bool is_half(const std::string& dtype) { return dtype == "F16" || dtype == "BF16"; }

// The entry's values in a host tensor of the slot's dtype: copied, or widened from F16 / BF16.
Tensor host_values(const SafetensorsEntry& entry, const Tensor& slot) {
  Tensor host = Tensor::empty(slot.shape(), Device::CPU, slot.dtype());
  const auto n = static_cast<std::size_t>(host.numel());
  if (!is_half(entry.dtype))
    std::memcpy(host.raw(), entry.data.data(), host.bytes());
  else if (host.dtype() == DType::F32)
    widen_half(entry, static_cast<float*>(host.raw()), n);
  else
    widen_half(entry, static_cast<double*>(host.raw()), n);
  return host;
}

void from_file(std::map<std::string, StateSlot>& slots, const SafetensorsFile& file, const std::string& path,
               const std::string& what) {
  std::string problems;
  int count = 0;
  auto problem = [&](const std::string& text) {
    problems += "\n  - " + text;
    ++count;
  };
  for (const auto& [name, slot] : slots) {
    auto found = file.tensors.find(name);
    if (found == file.tensors.end()) {
      problem("missing key '" + name + "'");
      continue;
    }
    const SafetensorsEntry& entry = found->second;
    const std::string expected_dtype = slot.counter ? "I64" : safetensors_dtype(slot.tensor->dtype());
    const Shape expected_shape = slot.counter ? Shape{} : slot.tensor->shape();
    // A shipped model may hold its floats at half width (F16 or BF16); they widen exactly.
    const bool widens = !slot.counter && is_half(entry.dtype);
    if (entry.dtype != expected_dtype && !widens)
      problem("'" + name + "' has dtype " + entry.dtype + ", expected " + expected_dtype);
    else if (entry.shape != expected_shape)
      problem("'" + name + "' has shape " + to_string(entry.shape) + ", expected " + to_string(expected_shape));
  }
  for (const auto& [name, entry] : file.tensors)
    if (!slots.count(name)) problem("unexpected key '" + name + "'");
  KEYNET_CHECK(count == 0, path, ": ", what, " does not match (", count, " problem", count == 1 ? "" : "s", "):",
               problems);
  std::map<std::string, Tensor> values;
  for (const auto& [name, slot] : slots)
    if (!slot.counter) values.emplace(name, host_values(file.tensors.at(name), *slot.tensor));
  check_finite(values, path);

  for (auto& [name, slot] : slots) {
    if (slot.counter)
      std::memcpy(slot.counter, file.tensors.at(name).data.data(), 8);
    else
      slot.tensor->copy_from(values.at(name));
  }
}

}  // namespace

void save_module(Module& module, const std::string& path, const std::map<std::string, std::string>& metadata,
                 FloatStorage storage) {
  SlotCollector collector;
  module.visit(collector, "");
  SafetensorsFile file = to_file(collector.slots);
  narrow_float_tensors(file, storage, path);
  file.metadata = metadata;
  file.metadata["format"] = "pt";
  write_safetensors(path, file);
}

std::map<std::string, std::string> load_module(Module& module, const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  load_module(module, file, path);
  return file.metadata;
}

void load_module(Module& module, const SafetensorsFile& file, const std::string& path) {
  SlotCollector collector;
  module.visit(collector, "");
  from_file(collector.slots, file, path, "checkpoint for " + module.describe());
}

void save_optimizer(Optimizer& optimizer, const std::string& path, const std::map<std::string, std::string>& metadata) {
  SlotCollector collector;
  optimizer.visit_state(collector);
  SafetensorsFile file = to_file(collector.slots);
  file.metadata = metadata;
  write_safetensors(path, file);
}

std::map<std::string, std::string> load_optimizer(Optimizer& optimizer, const std::string& path) {
  SlotCollector collector;
  optimizer.visit_state(collector);
  const SafetensorsFile file = read_safetensors(path);
  from_file(collector.slots, file, path, "optimizer state");
  return file.metadata;
}

std::string optimizer_state_path(const std::string& model_path) {
  const std::string suffix = ".safetensors";
  const bool has_suffix =
      model_path.size() > suffix.size() && model_path.compare(model_path.size() - suffix.size(), suffix.size(), suffix) == 0;
  return (has_suffix ? model_path.substr(0, model_path.size() - suffix.size()) : model_path) + ".optim.safetensors";
}

}  // namespace keynet
