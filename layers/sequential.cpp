#include "layers/sequential.h"

#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"

namespace keynet {

Sequential& Sequential::add(std::unique_ptr<Module> child, const std::string& name) {
  KEYNET_CHECK(child != nullptr, "Sequential::add: null module");
  if (impl_) child->set_impl(*impl_);
  if (children_.empty()) child->set_needs_input_grad(needs_input_grad_);
  children_.emplace_back(name.empty() ? std::to_string(children_.size()) : name, std::move(child));
  return *this;
}

Tensor Sequential::forward(const Tensor& x, Mode mode) {
  KEYNET_CHECK(!children_.empty(), "Sequential: forward through an empty Sequential");
  Tensor h = x;
  for (auto& [name, child] : children_) h = child->forward(h, mode);
  mark_forward();
  return h;
}

Tensor Sequential::backward(const Tensor& dy) {
  take_forward("Sequential");
  Tensor g = dy;
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) g = it->second->backward(g);
  return g;
}

void Sequential::for_each_child(const ChildFn& fn) {
  for (auto& [name, child] : children_) fn(name, *child);
}

void Sequential::fold_batch_norms() {
  for (std::size_t i = 0; i + 1 < children_.size(); ++i) {
    auto* conv = dynamic_cast<Conv2d*>(children_[i].second.get());
    auto* bn = dynamic_cast<BatchNorm2d*>(children_[i + 1].second.get());
    if (conv && bn) conv->fold_batch_norm(*bn);
  }
  Module::fold_batch_norms();
}

std::string Sequential::describe() const {
  std::string text = "Sequential(";
  for (std::size_t i = 0; i < children_.size(); ++i)
    text += (i ? ", " : "") + children_[i].first + ": " + children_[i].second->describe();
  return text + ")";
}

}  // namespace keynet
