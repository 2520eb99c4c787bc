// Builds without CUDA: a CUDA tensor cannot exist (Storage refuses to allocate one), so reaching
// this file means a caller bypassed that; say clearly what is missing.
#include "kernels/cuda/cuda_ops.h"

namespace keynet::cuda_ops {

namespace {
[[noreturn]] void no_cuda(const char* op) {
  KEYNET_FAIL(op, ": this keynet was built without CUDA (configure with -DKEYNET_CUDA=ON)");
}
}  // namespace

void conv2d_forward(Tensor&, const Tensor&, const Tensor&, const Tensor*, const ConvDesc&, Impl) { no_cuda("conv2d_forward"); }
void conv2d_backward(Tensor*, Tensor&, Tensor*, const Tensor&, const Tensor&, const Tensor&, const ConvDesc&, Impl) {
  no_cuda("conv2d_backward");
}
void max_pool2d_forward(Tensor&, const Tensor&, const PoolDesc&, Impl) { no_cuda("max_pool2d_forward"); }
void max_pool2d_backward(Tensor&, const Tensor&, const Tensor&, const Tensor&, const PoolDesc&, Impl) {
  no_cuda("max_pool2d_backward");
}
void relu_forward(Tensor&, const Tensor&, Impl) { no_cuda("relu_forward"); }
void relu_backward(Tensor&, const Tensor&, const Tensor&, Impl) { no_cuda("relu_backward"); }
void linear_forward(Tensor&, const Tensor&, const Tensor&, const Tensor*, Impl) { no_cuda("linear_forward"); }
void linear_backward(Tensor*, Tensor&, Tensor*, const Tensor&, const Tensor&, const Tensor&, Impl) {
  no_cuda("linear_backward");
}
void batch_norm2d_forward_train(Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, const Tensor&, const Tensor&,
                                const Tensor&, const BatchNormDesc&, Impl) {
  no_cuda("batch_norm2d_forward_train");
}
void batch_norm2d_forward_eval(Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                               const BatchNormDesc&, Impl) {
  no_cuda("batch_norm2d_forward_eval");
}
void batch_norm2d_backward(Tensor&, Tensor&, Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           const Tensor&, const BatchNormDesc&, Impl) {
  no_cuda("batch_norm2d_backward");
}
void global_avg_pool_forward(Tensor&, const Tensor&, Impl) { no_cuda("global_avg_pool_forward"); }
void global_avg_pool_backward(Tensor&, const Tensor&, Impl) { no_cuda("global_avg_pool_backward"); }
void add(Tensor&, const Tensor&, const Tensor&, Impl) { no_cuda("add"); }
void mse_loss_forward(Tensor&, const Tensor&, const Tensor&, Impl) { no_cuda("mse_loss_forward"); }
void mse_loss_backward(Tensor&, const Tensor&, const Tensor&, double, Impl) { no_cuda("mse_loss_backward"); }
void l1_loss_forward(Tensor&, const Tensor&, const Tensor&, Impl) { no_cuda("l1_loss_forward"); }
void l1_loss_backward(Tensor&, const Tensor&, const Tensor&, double, Impl) { no_cuda("l1_loss_backward"); }
void adam_update(Tensor&, const Tensor&, Tensor&, Tensor&, const AdamDesc&, Impl) { no_cuda("adam_update"); }
void sgd_update(Tensor&, const Tensor&, Tensor&, const SgdDesc&, Impl) { no_cuda("sgd_update"); }

}  // namespace keynet::cuda_ops
