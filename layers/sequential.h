// Sequential: children run in order; backward runs them in reverse. Children are named "0", "1", ...
// unless given a name, so parameter names match torch.nn.Sequential.
#pragma once
#include <memory>

#include "layers/module.h"

namespace keynet {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential& add(std::unique_ptr<Module> child, const std::string& name = "");
  template <class M, class... Args>
  M& emplace(const std::string& name, Args&&... args) {
    auto child = std::make_unique<M>(std::forward<Args>(args)...);
    M& ref = *child;
    add(std::move(child), name);
    return ref;
  }

  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;
  void for_each_child(const ChildFn& fn) override;
  void fold_batch_norms() override;  // each Conv2d child followed by a BatchNorm2d child, then every child's

  std::size_t size() const { return children_.size(); }
  Module& child(std::size_t i) { return *children_.at(i).second; }

 private:
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

}  // namespace keynet
