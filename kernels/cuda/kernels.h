// Host-side launchers of the handwritten CUDA kernels (raw device pointers, default stream), for
// cuda_ops.cu's dispatch and for the vendor path where it borrows one of ours. `naive`: one thread per
// output element, the readable version (Impl::Ref); `tiled`/`fast`: the tuned version (Impl::Fast).
// Gradient conventions as in kernels/ops.h: input gradients overwritten, parameter gradients +=.
#pragma once
#include <cstdint>

#include "kernels/ops.h"

namespace keynet::cuda {

using ops::AdamDesc;
using ops::BatchNormDesc;
using ops::ConvDesc;
using ops::PoolDesc;
using ops::SgdDesc;

// conv2d.cu: inp (N,C,H,W), weight (K,C,R,S), bias (K) or null, out (N,K,P,Q); dinp may be null
void conv2d_forward_naive(float* out, const float* inp, const float* weight, const float* bias, const ConvDesc& d);
void conv2d_backward_naive(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, const ConvDesc& d);
void conv2d_forward_tiled(float* out, const float* inp, const float* weight, const float* bias, const ConvDesc& d);
void conv2d_backward_tiled(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, const ConvDesc& d);
// dbias (K) += sum over n, p, q of dout (N,K,P,Q); one block per channel (also used by the vendor path)
void conv2d_bias_grad(float* dbias, const float* dout, int N, int K, int PQ);

// max_pool2d.cu: inp (N,C,H,W), out (N,C,P,Q)
void max_pool2d_forward(float* out, const float* inp, const PoolDesc& d);
void max_pool2d_backward_naive(float* dinp, const float* dout, const float* inp, const PoolDesc& d);
void max_pool2d_backward_fast(float* dinp, const float* dout, const float* inp, const PoolDesc& d);

// relu.cu: elementwise, n elements
void relu_forward(float* out, const float* inp, int64_t n);
void relu_backward(float* dinp, const float* dout, const float* out, int64_t n);
void add(float* out, const float* a, const float* b, int64_t n);

// linear.cu: inp (N,I), weight (O,I), bias (O) or null, out (N,O); dinp may be null
void linear_forward_naive(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O);
void linear_backward_naive(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, int N, int I, int O);
void linear_forward_tiled(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O);
void linear_backward_tiled(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, int N, int I, int O);
// out (N,O) = bias broadcast over rows; dbias (O) += column sums of dout (N,O) (used by the cuBLAS path)
void linear_fill_bias(float* out, const float* bias, int N, int O);
void linear_bias_grad(float* dbias, const float* dout, int N, int O);

// batch_norm2d.cu: inp, out (N,C,HW); per-channel vectors (C)
void batch_norm2d_forward_train_naive(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                      float* running_var, const float* inp, const float* gamma, const float* beta,
                                      const BatchNormDesc& d);
void batch_norm2d_forward_train_fast(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const float* inp, const float* gamma, const float* beta,
                                     const BatchNormDesc& d);
void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const BatchNormDesc& d);
void batch_norm2d_backward_naive(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                 const float* gamma, const float* save_mean, const float* save_invstd,
                                 const BatchNormDesc& d);
void batch_norm2d_backward_fast(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* gamma, const float* save_mean, const float* save_invstd,
                                const BatchNormDesc& d);

// global_avg_pool.cu: inp (planes, HW) -> out (planes)
void global_avg_pool_forward_naive(float* out, const float* inp, int planes, int HW);
void global_avg_pool_forward_fast(float* out, const float* inp, int planes, int HW);
void global_avg_pool_backward(float* dinp, const float* dout, int planes, int HW);

// losses.cu: loss is a 1-element device buffer
void mse_loss_forward_naive(float* loss, const float* pred, const float* target, int64_t n);
void mse_loss_forward_fast(float* loss, const float* pred, const float* target, int64_t n);
void mse_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n);
void l1_loss_forward_naive(float* loss, const float* pred, const float* target, int64_t n);
void l1_loss_forward_fast(float* loss, const float* pred, const float* target, int64_t n);
void l1_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n);

// optimizers.cu: in place, n elements
void adam_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamDesc& d);
void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, const SgdDesc& d);

}  // namespace keynet::cuda
