// Parameter and ParamVisitor: the named walk over a module's state. Modules implement it, optimizers
// collect their parameters and state with it and checkpoints name their tensors by it, so it lives
// apart from the Module API.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace keynet {

struct Parameter {
  Tensor value;
  Tensor grad;  // same shape, device and dtype as value
};

// Walks a module's state with dotted torchvision-style names ("layer1.0.conv1.weight").
class ParamVisitor {
 public:
  virtual ~ParamVisitor() = default;
  virtual void parameter(const std::string& name, Parameter& parameter) = 0;
  virtual void buffer(const std::string& name, Tensor& value) = 0;        // e.g. BatchNorm running stats
  virtual void counter(const std::string& name, int64_t& value) = 0;      // int64 scalars (num_batches_tracked)
};

}  // namespace keynet
