// Host-side launchers of the handwritten CUDA kernels (raw device pointers, default stream), called by
// kernels/ops.cpp's dispatch and, for a few helpers, by the cuDNN/cuBLAS path. Namespaces follow Impl,
// as on the CPU: cuda::ref holds the readable version (one thread per output element), cuda::fast the
// tuned one; a launcher directly in cuda:: is both (an elementwise op has nothing to tune).
// Gradient conventions as in kernels/ops.h: input gradients overwritten, parameter gradients +=.
#pragma once
#include <cstdint>

#include "kernels/descriptors.h"

namespace keynet::cuda {

using ops::AdamDesc;
using ops::BatchNormDesc;
using ops::ConvDesc;
using ops::PoolDesc;
using ops::SgdDesc;
using ops::SoftArgmaxDesc;
using ops::UpsampleDesc;

// The launchers that cuda::ref and cuda::fast both have, each signature written once as a function type
// (the two namespaces below declare their functions by it, so the lists cannot drift apart).
// conv2d.cu: inp (N,C,H,W), weight (K,C,R,S), bias (K) or null, out (N,K,P,Q); dinp may be null
using Conv2dForward = void(float* out, const float* inp, const float* weight, const float* bias, const ConvDesc& d);
using Conv2dBackward = void(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const ConvDesc& d);
// max_pool2d.cu: inp (N,C,H,W), dout (N,C,P,Q)
using MaxPool2dBackward = void(float* dinp, const float* dout, const float* inp, const PoolDesc& d);
// linear.cu: inp (N,I), weight (O,I), bias (O) or null, out (N,O); dinp may be null
using LinearForward = void(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O);
using LinearBackward = void(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, int N, int I, int O);
// batch_norm2d.cu: inp, out (N,C,HW); per-channel vectors (C)
using BatchNorm2dForwardTrain = void(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const float* inp, const float* gamma, const float* beta,
                                     const BatchNormDesc& d);
using BatchNorm2dBackward = void(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                 const float* gamma, const float* save_mean, const float* save_invstd,
                                 const BatchNormDesc& d);
// batch norm then ReLU fused (the forward has BatchNorm2dForwardTrain's signature); out: the forward's (N,C,HW)
using BatchNorm2dReluBackward = void(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                     const float* out, const float* gamma, const float* save_mean,
                                     const float* save_invstd, const BatchNormDesc& d);
// global_avg_pool.cu: inp (planes, HW) -> out (planes)
using GlobalAvgPoolForward = void(float* out, const float* inp, int planes, int HW);
// losses.cu: loss is a 1-element device buffer
using LossForward = void(float* loss, const float* pred, const float* target, int64_t n);
using WingLossForward = void(float* loss, const float* pred, const float* target, const ops::WingDesc& d, int64_t n);
// soft_argmax2d.cu: inp, probs (N,K,H,W), out (N,2K)
using SoftArgmax2dForward = void(float* out, float* probs, const float* inp, const SoftArgmaxDesc& d);

namespace ref {
Conv2dForward conv2d_forward;
Conv2dBackward conv2d_backward;
MaxPool2dBackward max_pool2d_backward;
LinearForward linear_forward;
LinearBackward linear_backward;
BatchNorm2dForwardTrain batch_norm2d_forward_train;
BatchNorm2dBackward batch_norm2d_backward;
BatchNorm2dForwardTrain batch_norm2d_relu_forward_train;
BatchNorm2dReluBackward batch_norm2d_relu_backward;
GlobalAvgPoolForward global_avg_pool_forward;
LossForward mse_loss_forward;
LossForward l1_loss_forward;
WingLossForward wing_loss_forward;
SoftArgmax2dForward soft_argmax2d_forward;
}  // namespace ref

namespace fast {
Conv2dForward conv2d_forward;
Conv2dBackward conv2d_backward;
MaxPool2dBackward max_pool2d_backward;
LinearForward linear_forward;
LinearBackward linear_backward;
BatchNorm2dForwardTrain batch_norm2d_forward_train;
BatchNorm2dBackward batch_norm2d_backward;
BatchNorm2dForwardTrain batch_norm2d_relu_forward_train;
BatchNorm2dReluBackward batch_norm2d_relu_backward;
GlobalAvgPoolForward global_avg_pool_forward;
LossForward mse_loss_forward;
LossForward l1_loss_forward;
WingLossForward wing_loss_forward;
SoftArgmax2dForward soft_argmax2d_forward;
}  // namespace fast

// One kernel serves Ref and Fast.
void max_pool2d_forward(float* out, const float* inp, const PoolDesc& d);        // max_pool2d.cu
void relu_forward(float* out, const float* inp, int64_t n);                       // relu.cu
void relu_backward(float* dinp, const float* dout, const float* out, int64_t n);  // relu.cu
void add(float* out, const float* a, const float* b, int64_t n);                  // relu.cu (out may alias)
void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const BatchNormDesc& d);
void batch_norm2d_relu_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var, const BatchNormDesc& d);
void global_avg_pool_backward(float* dinp, const float* dout, int planes, int HW);
void mse_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n);
void l1_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n);
void wing_loss_backward(float* dpred, const float* pred, const float* target, const ops::WingDesc& d, float dloss,
                        int64_t n);
// batch norm over ranks (ops.h, batch_norm2d.cu); out null: no ReLU
void batch_norm2d_channel_sums(float* sums, const float* inp, const float* total_sum, double count,
                               const BatchNormDesc& d);
void batch_norm2d_stats_from_sums(float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                  const float* total_sum, const float* total_squares, double count,
                                  const BatchNormDesc& d);
void batch_norm2d_normalize(float* out, const float* inp, const float* gamma, const float* beta,
                            const float* save_mean, const float* save_invstd, bool relu, const BatchNormDesc& d);
void batch_norm2d_backward_sums(float* sums, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* save_mean, const float* save_invstd,
                                const BatchNormDesc& d);
void batch_norm2d_backward_apply(float* dinp, const float* dout, const float* inp, const float* out,
                                 const float* gamma, const float* save_mean, const float* save_invstd,
                                 const float* total_sums, double count, const BatchNormDesc& d);
// upsample_nearest2d.cu: inp, dinp (N,C,H,W), out, dout (N,C,H*scale,W*scale)
void upsample_nearest2d_forward(float* out, const float* inp, const UpsampleDesc& d);
void upsample_nearest2d_backward(float* dinp, const float* dout, const UpsampleDesc& d);
// soft_argmax2d.cu: dinp, probs (N,K,H,W), dout, out (N,2K)
void soft_argmax2d_backward(float* dinp, const float* dout, const float* probs, const float* out,
                            const SoftArgmaxDesc& d);
// optimizers.cu: in place, n elements
void adam_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamDesc& d);
void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, const SgdDesc& d);

// Used by the cuDNN/cuBLAS path too. dbias (K) += sum over n, p, q of dout (N,K,P,Q), one block per
// channel; out (N,O) = bias broadcast over rows; dbias (O) += column sums of dout (N,O).
void conv2d_bias_grad(float* dbias, const float* dout, int N, int K, int PQ);
void linear_fill_bias(float* out, const float* bias, int N, int O);
void linear_bias_grad(float* dbias, const float* dout, int N, int O);

}  // namespace keynet::cuda
