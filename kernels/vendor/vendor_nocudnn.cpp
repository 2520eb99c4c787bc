// CUDA builds without cuDNN: Impl::Vendor has nothing to call, and says so.
#include "kernels/vendor/vendor.h"
#include "tensor/error.h"

namespace keynet::vendor {

namespace {
[[noreturn]] void no_cudnn(const char* op) {
  KEYNET_FAIL(op, ": impl=vendor needs cuDNN and cuBLAS, but this keynet was built without cuDNN (install cuDNN and "
                  "configure with -DKEYNET_CUDNN=ON), or choose impl=fast");
}
}  // namespace

std::string describe() { return "vendor path not built (no cuDNN)"; }

void conv2d_forward(float*, const float*, const float*, const float*, const ops::ConvDesc&) {
  no_cudnn("conv2d_forward");
}
void conv2d_backward(float*, float*, float*, const float*, const float*, const float*, const ops::ConvDesc&) {
  no_cudnn("conv2d_backward");
}
void max_pool2d_forward(float*, const float*, const ops::PoolDesc&) { no_cudnn("max_pool2d_forward"); }
void max_pool2d_backward(float*, const float*, const float*, const float*, const ops::PoolDesc&) {
  no_cudnn("max_pool2d_backward");
}
void relu_forward(float*, const float*, int64_t) { no_cudnn("relu_forward"); }
void relu_backward(float*, const float*, const float*, int64_t) { no_cudnn("relu_backward"); }
void batch_norm2d_forward_train(float*, float*, float*, float*, float*, const float*, const float*, const float*,
                                const ops::BatchNormDesc&) {
  no_cudnn("batch_norm2d_forward_train");
}
void batch_norm2d_forward_eval(float*, const float*, const float*, const float*, const float*, const float*,
                               const ops::BatchNormDesc&) {
  no_cudnn("batch_norm2d_forward_eval");
}
void batch_norm2d_backward(float*, float*, float*, const float*, const float*, const float*, const float*,
                           const float*, const ops::BatchNormDesc&) {
  no_cudnn("batch_norm2d_backward");
}
void linear_forward(float*, const float*, const float*, const float*, int, int, int) { no_cudnn("linear_forward"); }
void linear_backward(float*, float*, float*, const float*, const float*, const float*, int, int, int) {
  no_cudnn("linear_backward");
}

}  // namespace keynet::vendor
