// Module: the layer API. forward caches what backward needs; backward returns a fresh input gradient
// and ADDS into parameter gradients. Layers validate shapes, allocate outputs on the input's device and
// call kernels/ops.h only.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/ops.h"
#include "layers/param_visitor.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace keynet {

enum class Mode { Train, Eval };

class Module {
 public:
  using ChildFn = std::function<void(const std::string& name, Module& child)>;

  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x, Mode mode) = 0;
  virtual Tensor backward(const Tensor& dy) = 0;
  virtual std::string describe() const = 0;  // one line, PyTorch-like
  // A composite's one list of its children, in forward order, with their torchvision names; visit,
  // set_impl, set_needs_input_grad and the device moves all follow from it. Default: no children.
  virtual void for_each_child(const ChildFn&) {}
  // Named state; default: the children's, under join_name(prefix, child's name). Leaves with state override.
  virtual void visit(ParamVisitor& visitor, const std::string& prefix);
  // For inference: every BatchNorm2d (or BatchNormReLU) that directly follows a Conv2d is folded into that
  // convolution's weights and bias (ops::batch_norm2d_fold), which Mode::Eval uses from then on; the batch
  // norm then passes its input through (BatchNormReLU: its ReLU). Fold after moving the model to its
  // device. The named state keeps the unfolded parameters, so checkpoints are unchanged; a folded model
  // refuses Mode::Train. Default: the children's; Sequential folds neighbours, BasicBlock its pairs.
  virtual void fold_batch_norms();
  // Kernel implementation for this module and all its children; unset means default_impl().
  void set_impl(Impl impl);
  Impl impl() const { return impl_ ? *impl_ : default_impl(); }
  // A first layer need not compute the gradient of its input; backward then returns an undefined tensor.
  // Default: passed on to the first child, the only one that sees the input; a composite whose input
  // feeds several children (BasicBlock's skip path) overrides this to pass it to each of them.
  virtual void set_needs_input_grad(bool needed);

 protected:
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
