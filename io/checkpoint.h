// Checkpoints: a module's parameters, buffers and counters as safetensors with PyTorch names and
// layouts; an optimizer's state beside it in "<stem>.optim.safetensors". Loading is strict: a missing
// key, an extra key, a wrong shape or a wrong dtype is refused with one error listing every problem (F16
// and BF16 tensors are not wrong: they widen exactly into float32 or float64 state), and
// a NaN or Inf in any tensor (a weight, a BatchNorm running statistic, an optimizer moment) with an error
// naming the tensor; a refused file leaves the module or optimizer as it was.
#pragma once
#include <map>
#include <string>

#include "io/safetensors.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace keynet {

// `storage` F16 or BF16 narrows the float32 tensors (a shipped model); checkpoints that resume keep AsIs.
void save_module(Module& module, const std::string& path, const std::map<std::string, std::string>& metadata = {},
                 FloatStorage storage = FloatStorage::AsIs);
// Returns the file's metadata.
std::map<std::string, std::string> load_module(Module& module, const std::string& path);
// The same from a file already read (e.g. to look at its metadata first); `path` names it in errors.
void load_module(Module& module, const SafetensorsFile& file, const std::string& path);

void save_optimizer(Optimizer& optimizer, const std::string& path,
                    const std::map<std::string, std::string>& metadata = {});
// Returns the file's metadata.
std::map<std::string, std::string> load_optimizer(Optimizer& optimizer, const std::string& path);

// "runs/net.safetensors" -> "runs/net.optim.safetensors"
std::string optimizer_state_path(const std::string& model_path);

}  // namespace keynet
