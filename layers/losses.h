// Losses with reduction 'mean' (PyTorch's default). forward returns the loss as a 1-element tensor on
// the prediction's device (read it with .to(Device::CPU)); backward returns d(loss)/d(pred).
#pragma once
#include <optional>

#include "kernels/ops.h"

namespace keynet {

class Loss {
 public:
  virtual ~Loss() = default;
  Tensor forward(const Tensor& pred, const Tensor& target);
  Tensor backward(double dloss = 1.0);
  void set_impl(Impl impl) { impl_ = impl; }

 protected:
  virtual const char* name() const = 0;
  virtual void compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) = 0;
  virtual void gradient(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) = 0;

 private:
  std::optional<Impl> impl_;
  Tensor pred_, target_;
};

class MSELoss : public Loss {
 protected:
  const char* name() const override { return "MSELoss"; }
  void compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) override;
  void gradient(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) override;
};

class L1Loss : public Loss {
 protected:
  const char* name() const override { return "L1Loss"; }
  void compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) override;
  void gradient(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) override;
};

// Wing loss (kernels/descriptors.h): w and epsilon in the targets' units.
class WingLoss : public Loss {
 public:
  explicit WingLoss(ops::WingDesc desc) : desc_(desc) {}

 protected:
  const char* name() const override { return "WingLoss"; }
  void compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) override;
  void gradient(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) override;

 private:
  ops::WingDesc desc_;
};

// The scalar value of a 1-element loss tensor (copies it to the host, explicitly).
double loss_value(const Tensor& loss);

}  // namespace keynet
