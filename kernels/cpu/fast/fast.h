// Fast CPU kernels (float32): convolution and linear on our GEMM (gemm.h), vectorised loops for the rest,
// OpenMP threads (cpu_threads()). Same semantics as kernels/cpu/ref, which they are tested against (and
// against Eigen's, kernels/cpu/eigen). An op whose reference is already the fast loop (ReLU, add, the
// optimizer updates, nearest upsampling, soft-argmax's backward) has no kernel here: its template in
// kernels/cpu/ref serves Impl::Fast as well.
#pragma once
#include <cstdint>

#include "kernels/descriptors.h"

namespace keynet::cpu::fast {

// inp (N,C,H,W), weight (K,C,R,S), bias (K) or null, out (N,K,P,Q)
void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ops::ConvDesc& d);
void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::ConvDesc& d);

void max_pool2d_forward(float* out, const float* inp, const ops::PoolDesc& d);
void max_pool2d_backward(float* dinp, const float* dout, const float* inp, const ops::PoolDesc& d);

// inp (N,I), weight (O,I), bias (O) or null, out (N,O)
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O);
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int I, int O);

void batch_norm2d_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                float* running_var, const float* inp, const float* gamma, const float* beta,
                                const ops::BatchNormDesc& d);
void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const ops::BatchNormDesc& d);
void batch_norm2d_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                           const float* gamma, const float* save_mean, const float* save_invstd,
                           const ops::BatchNormDesc& d);
// batch norm then ReLU in one op (out = relu(BN(x))); the backward takes the forward's out for the mask
void batch_norm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const float* inp, const float* gamma, const float* beta,
                                     const ops::BatchNormDesc& d);
void batch_norm2d_relu_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var,
                                    const ops::BatchNormDesc& d);
void batch_norm2d_relu_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* gamma, const float* save_mean,
                                const float* save_invstd, const ops::BatchNormDesc& d);
// batch norm over ranks (ops.h): the ops that pass over the activations; stats_from_sums is the reference's
void batch_norm2d_channel_sums(float* sums, const float* inp, const float* total_sum, double count,
                               const ops::BatchNormDesc& d);
void batch_norm2d_normalize(float* out, const float* inp, const float* gamma, const float* beta,
                            const float* save_mean, const float* save_invstd, bool relu, const ops::BatchNormDesc& d);
void batch_norm2d_backward_sums(float* sums, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* save_mean, const float* save_invstd,
                                const ops::BatchNormDesc& d);
void batch_norm2d_backward_apply(float* dinp, const float* dout, const float* inp, const float* out,
                                 const float* gamma, const float* save_mean, const float* save_invstd,
                                 const float* total_sums, double count, const ops::BatchNormDesc& d);

void global_avg_pool_forward(float* out, const float* inp, int planes, int HW);
void global_avg_pool_backward(float* dinp, const float* dout, int planes, int HW);

float mse_loss_forward(const float* pred, const float* target, int64_t n);
void mse_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n);
float l1_loss_forward(const float* pred, const float* target, int64_t n);
void l1_loss_backward(float* dpred, const float* pred, const float* target, float dloss, int64_t n);
float wing_loss_forward(const float* pred, const float* target, const ops::WingDesc& d, int64_t n);
void wing_loss_backward(float* dpred, const float* pred, const float* target, const ops::WingDesc& d, float dloss,
                        int64_t n);

// inp, probs (N,K,H,W), out (N,2K)
void soft_argmax2d_forward(float* out, float* probs, const float* inp, const ops::SoftArgmaxDesc& d);

}  // namespace keynet::cpu::fast
