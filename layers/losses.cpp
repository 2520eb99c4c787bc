#include "layers/losses.h"

namespace keynet {

Tensor Loss::forward(const Tensor& pred, const Tensor& target) {
  KEYNET_CHECK(pred.shape() == target.shape(), name(), ": prediction ", to_string(pred.shape()), " and target ",
               to_string(target.shape()), " differ");
  Tensor loss = Tensor::empty({1}, pred.device(), pred.dtype());
  compute(loss, pred, target, impl_ ? *impl_ : default_impl());
  pred_ = pred;
  target_ = target;
  return loss;
}

Tensor Loss::backward(double dloss) {
  KEYNET_CHECK(pred_.defined(), name(), ": backward called without a forward before it");
  Tensor dpred = Tensor::empty(pred_.shape(), pred_.device(), pred_.dtype());
  gradient(dpred, pred_, target_, dloss, impl_ ? *impl_ : default_impl());
  pred_ = target_ = Tensor();
  return dpred;
}

void MSELoss::compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  ops::mse_loss_forward(loss, pred, target, impl);
}
void MSELoss::gradient(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  ops::mse_loss_backward(dpred, pred, target, dloss, impl);
}
void L1Loss::compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  ops::l1_loss_forward(loss, pred, target, impl);
}
void L1Loss::gradient(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  ops::l1_loss_backward(dpred, pred, target, dloss, impl);
}

void WingLoss::compute(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  ops::wing_loss_forward(loss, pred, target, desc_, impl);
}
void WingLoss::gradient(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  ops::wing_loss_backward(dpred, pred, target, desc_, dloss, impl);
}

double loss_value(const Tensor& loss) {
  KEYNET_CHECK(loss.numel() == 1, "loss_value: expected a 1-element tensor, got ", loss.describe());
  return loss.to(Device::CPU).at({0});
}

}  // namespace keynet
