// Impl::Vendor on CUDA, the kept libraries: cuDNN for convolution, pooling, ReLU and batch norm, cuBLAS
// for linear. Raw device pointers, default stream, the contracts of kernels/ops.h (input gradients
// overwritten, parameter gradients accumulated). Handles are created lazily, once per process.
// Convolution algorithms come from cuDNN's heuristics (cudnnGet*_v7: the same choice on every run),
// or from timing (cudnnFind*) when KEYNET_CUDNN_BENCHMARK=1; deterministic algorithms only unless
// KEYNET_CUDNN_NONDETERMINISTIC=1. TF32 is off unless KEYNET_ALLOW_TF32=1.
// Built only with cuDNN (KEYNET_WITH_CUDNN); kernels/ops.cpp names these functions nowhere else.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/descriptors.h"

namespace keynet::cudnn {

// "cuDNN 9.19.0, cuBLAS 13.0.0; conv algorithms: heuristic, deterministic; TF32 off"
std::string describe();

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ops::ConvDesc& d);
void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::ConvDesc& d);

void max_pool2d_forward(float* out, const float* inp, const ops::PoolDesc& d);
void max_pool2d_backward(float* dinp, const float* dout, const float* inp, const float* out, const ops::PoolDesc& d);

void relu_forward(float* out, const float* inp, int64_t n);
void relu_backward(float* dinp, const float* dout, const float* out, int64_t n);

void batch_norm2d_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                float* running_var, const float* inp, const float* gamma, const float* beta,
                                const ops::BatchNormDesc& d);
void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const ops::BatchNormDesc& d);
void batch_norm2d_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                           const float* gamma, const float* save_mean, const float* save_invstd,
                           const ops::BatchNormDesc& d);
// batch norm then ReLU: cuDNN's batch norm and activation composed (kernels/cudnn/batch_norm2d.cpp says why)
void batch_norm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const float* inp, const float* gamma, const float* beta,
                                     const ops::BatchNormDesc& d);
void batch_norm2d_relu_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var,
                                    const ops::BatchNormDesc& d);
void batch_norm2d_relu_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* gamma, const float* save_mean,
                                const float* save_invstd, const ops::BatchNormDesc& d);

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O);
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int I, int O);

}  // namespace keynet::cudnn
