// Optimizers over a module's parameters, PyTorch semantics (torch.optim.Adam/AdamW, SGD). State
// tensors live on each parameter's device and are created at the first step.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "layers/module.h"
#include "layers/param_visitor.h"

namespace keynet {

class Optimizer {
 public:
  explicit Optimizer(Module& module);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  int64_t steps_taken() const { return step_; }
  void set_impl(Impl impl) { impl_ = impl; }
  // State for checkpoints: "<param name>.<state>" tensors and the step counter "step".
  virtual void visit_state(ParamVisitor& visitor) = 0;

 protected:
  Impl impl() const { return impl_ ? *impl_ : default_impl(); }
  // Each parameter's state tensors, allocated (zeros) on the parameter's device at the first step.
  void ensure_state(std::vector<Tensor>& state);
  std::vector<std::pair<std::string, Parameter*>> params_;
  double lr_ = 1e-3;
  int64_t step_ = 0;
  std::optional<Impl> impl_;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // AdamW
};

class Adam : public Optimizer {
 public:
  Adam(Module& module, const AdamOptions& options = {});
  void step() override;
  void visit_state(ParamVisitor& visitor) override;

 private:
  AdamOptions options_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

struct SgdOptions {
  double lr = 1e-2, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(Module& module, const SgdOptions& options = {});
  void step() override;
  void visit_state(ParamVisitor& visitor) override;

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_buffer_;
};

}  // namespace keynet
