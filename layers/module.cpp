#include "layers/module.h"

namespace keynet {

void Module::fold_batch_norms() {
  for_each_child([](const std::string&, Module& child) { child.fold_batch_norms(); });
}

void Module::visit(ParamVisitor& visitor, const std::string& prefix) {
  for_each_child([&](const std::string& name, Module& child) { child.visit(visitor, join_name(prefix, name)); });
}

void Module::set_impl(Impl impl) {
  impl_ = impl;
  for_each_child([impl](const std::string&, Module& child) { child.set_impl(impl); });
}

void Module::set_needs_input_grad(bool needed) {
  needs_input_grad_ = needed;
  bool first = true;
  for_each_child([&](const std::string&, Module& child) {
    if (first) child.set_needs_input_grad(needed);
    first = false;
  });
}

void Module::take_forward(const char* layer) {
  KEYNET_CHECK(has_forward_, layer, ": backward called without a forward before it (one backward per forward)");
  has_forward_ = false;
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

namespace {

// Applies one function to every tensor of a module's state.
template <class OnParameter, class OnBuffer, class OnCounter>
class LambdaVisitor : public ParamVisitor {
 public:
  LambdaVisitor(OnParameter p, OnBuffer b, OnCounter c) : on_parameter_(p), on_buffer_(b), on_counter_(c) {}
  void parameter(const std::string& name, Parameter& parameter) override { on_parameter_(name, parameter); }
  void buffer(const std::string& name, Tensor& value) override { on_buffer_(name, value); }
  void counter(const std::string& name, int64_t& value) override { on_counter_(name, value); }

 private:
  OnParameter on_parameter_;
  OnBuffer on_buffer_;
  OnCounter on_counter_;
};

template <class OnParameter, class OnBuffer>
void visit_all(Module& module, OnParameter on_parameter, OnBuffer on_buffer) {
  LambdaVisitor visitor(on_parameter, on_buffer, [](const std::string&, int64_t&) {});
  module.visit(visitor, "");
}

}  // namespace

std::vector<std::pair<std::string, Parameter*>> named_parameters(Module& module) {
  std::vector<std::pair<std::string, Parameter*>> result;
  visit_all(
      module, [&](const std::string& name, Parameter& p) { result.emplace_back(name, &p); },
      [](const std::string&, Tensor&) {});
  return result;
}

std::vector<std::pair<std::string, Tensor*>> named_buffers(Module& module) {
  std::vector<std::pair<std::string, Tensor*>> result;
  visit_all(
      module, [](const std::string&, Parameter&) {},
      [&](const std::string& name, Tensor& t) { result.emplace_back(name, &t); });
  return result;
}

int64_t parameter_count(Module& module) {
  int64_t count = 0;
  for (auto& [name, p] : named_parameters(module)) count += p->value.numel();
  return count;
}

void zero_grad(Module& module) {
  for (auto& [name, p] : named_parameters(module)) p->grad.zero_();
}

namespace {
// Replaces every parameter, gradient and buffer of a module by convert(tensor).
template <class Convert>
void convert_state(Module& module, Convert convert) {
  visit_all(
      module,
      [&](const std::string&, Parameter& p) {
        p.value = convert(p.value);
        p.grad = convert(p.grad);
      },
      [&](const std::string&, Tensor& t) { t = convert(t); });
}
}  // namespace

void to_device(Module& module, Device device) {
  convert_state(module, [device](const Tensor& t) { return t.to(device); });
}

void to_dtype(Module& module, DType dtype) {
  convert_state(module, [dtype](const Tensor& t) { return t.to(dtype); });
}

Tensor empty_like_input(const Tensor& x, const Shape& shape) { return Tensor::empty(shape, x.device(), x.dtype()); }

}  // namespace keynet
