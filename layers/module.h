// Module: the layer API. forward caches what backward needs; backward returns a fresh input gradient
// and ADDS into parameter gradients. Layers validate shapes, allocate outputs on the input's device and
// call kernels/ops.h only.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/ops.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace keynet {

enum class Mode { Train, Eval };

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

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x, Mode mode) = 0;
  virtual Tensor backward(const Tensor& dy) = 0;
  virtual void visit(ParamVisitor& visitor, const std::string& prefix);  // default: no state
  virtual std::string describe() const = 0;                               // one line, PyTorch-like
  // Kernel implementation for this module (and its children); unset means default_impl().
  virtual void set_impl(Impl impl) { impl_ = impl; }
  // A first layer need not compute the gradient of its input; backward then returns an undefined tensor.
  virtual void set_needs_input_grad(bool needed) { needs_input_grad_ = needed; }

 protected:
  Impl impl() const { return impl_ ? *impl_ : default_impl(); }
  // One backward per forward: forward calls mark_forward(), backward calls take_forward().
  void mark_forward() { has_forward_ = true; }
  void take_forward(const char* layer);
  std::optional<Impl> impl_;
  bool needs_input_grad_ = true;

 private:
  bool has_forward_ = false;
};

// Dotted name: join("layer1.0", "conv1") = "layer1.0.conv1"; join("", "fc") = "fc".
std::string join_name(const std::string& prefix, const std::string& name);

std::vector<std::pair<std::string, Parameter*>> named_parameters(Module& module);
std::vector<std::pair<std::string, Tensor*>> named_buffers(Module& module);
int64_t parameter_count(Module& module);
void zero_grad(Module& module);
// Moves every parameter, gradient and buffer (device), or converts them (dtype, CPU only).
void to_device(Module& module, Device device);
void to_dtype(Module& module, DType dtype);

// A fresh tensor shaped like `shape` on x's device with x's dtype.
Tensor empty_like_input(const Tensor& x, const Shape& shape);

}  // namespace keynet
