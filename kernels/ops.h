// kernels/ops.h: the only kernel API that layers and optimizers call.
//
// Every op takes tensors that live on one device with one dtype; kernels/ops.cpp, the one dispatch
// site, picks the backend from (device, Impl):
//   CPU  Ref    -> kernels/cpu/ref     naive loops templated on float/double: the specification
//   CPU  Fast   -> kernels/cpu/fast    our GEMM and vectorised loops, OpenMP threads (KEYNET_THREADS)
//   CPU  Vendor -> kernels/cpu/eigen   Eigen's GEMM for conv and linear; the fast kernels for the ops
//                                      Eigen lacks (said once per op)
//   CUDA Ref    -> kernels/cuda        cuda::ref, one thread per output element
//   CUDA Fast   -> kernels/cuda        cuda::fast, tiled shared-memory kernels
//   CUDA Vendor -> kernels/cudnn       cuDNN / cuBLAS
// Where an elementwise loop has nothing to tune, one kernel serves Ref and Fast: the reference template
// on the CPU (threaded), a plain cuda:: kernel on CUDA.
// float64 tensors run the CPU reference whatever Impl says (they exist for gradient checks).
//
// Conventions: outputs first, then inputs, then the descriptor. Outputs are preallocated with the
// right shape. Input gradients (dinp) are OVERWRITTEN; parameter gradients (dweight, dbias, dgamma,
// dbeta) are ACCUMULATED (+=), so that zero_grad() and gradient accumulation mean what PyTorch users
// expect. An optional tensor is passed as a pointer that may be null.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/cpu/threads.h"
#include "kernels/descriptors.h"
#include "tensor/tensor.h"

namespace keynet {

enum class Impl { Ref, Fast, Vendor };
const char* to_string(Impl impl);
Impl parse_impl(const std::string& name);  // "ref" | "fast" | "vendor"; throws on anything else
// The process-wide default: KEYNET_IMPL when set, else Fast. Layers may override it one by one.
Impl default_impl();
void set_default_impl(Impl impl);

namespace ops {

// ---- convolution
void conv2d_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, const ConvDesc& d,
                    Impl impl);
void conv2d_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, const ConvDesc& d, Impl impl);

// ---- max pooling (backward recomputes each window's first maximum from inp)
void max_pool2d_forward(Tensor& out, const Tensor& inp, const PoolDesc& d, Impl impl);
void max_pool2d_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp, const Tensor& out, const PoolDesc& d,
                         Impl impl);

// ---- ReLU (any shape); out may be inp (in place); backward uses out > 0
void relu_forward(Tensor& out, const Tensor& inp, Impl impl);
void relu_backward(Tensor& dinp, const Tensor& dout, const Tensor& out, Impl impl);

// ---- linear: inp (N,I), weight (O,I), bias (O), out (N,O)
void linear_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, Impl impl);
void linear_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, Impl impl);

// ---- batch norm: gamma, beta, running_mean, running_var, save_mean, save_invstd all (C)
// Train: normalise with batch statistics (biased variance), update the running statistics with the
// unbiased variance, save mean and 1/sqrt(var + eps) for backward.
void batch_norm2d_forward_train(Tensor& out, Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                                Tensor& running_var, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                const BatchNormDesc& d, Impl impl);
void batch_norm2d_forward_eval(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, const BatchNormDesc& d,
                               Impl impl);
// Backward of the train-mode forward.
void batch_norm2d_backward(Tensor& dinp, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                           const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                           const BatchNormDesc& d, Impl impl);

// ---- batch norm then ReLU, fused: out = relu(BN(x)), the ReLU applied as the output is written (one pass
// over the output after the statistics). Arguments and state as the three ops above. The result is the
// composition batch_norm2d_* then relu_* exactly, NaN included: ReLU keeps NaN.
void batch_norm2d_relu_forward_train(Tensor& out, Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                                     Tensor& running_var, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                     const BatchNormDesc& d, Impl impl);
void batch_norm2d_relu_forward_eval(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                    const Tensor& running_mean, const Tensor& running_var, const BatchNormDesc& d,
                                    Impl impl);
// Backward of the train-mode forward; out is that forward's output (N,C,H,W): the gradient passes where
// out > 0 or out is NaN (relu_backward's rule), then batch norm's backward. One pass for the per-channel
// sums, one for dinp, the mask applied as dout is read.
void batch_norm2d_relu_backward(Tensor& dinp, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                                const Tensor& out, const Tensor& gamma, const Tensor& save_mean,
                                const Tensor& save_invstd, const BatchNormDesc& d, Impl impl);

// ---- batch norm over the ranks of a data-parallel job (SyncBatchNorm): the train-mode ops above split
// where the ranks must agree, their per-channel sums summed over the ranks in between (the caller's
// all-reduce). Forward: channel_sums(sum), all-reduce; channel_sums(squares, &sum), all-reduce;
// stats_from_sums; normalize. Backward: backward_sums, all-reduce; backward_apply. `count` is the
// number of values per channel over all ranks (the sum of the ranks' N*HW). On one rank the composition
// is batch_norm2d(_relu)_forward_train and _backward up to float rounding (the sums are summed twice).
// sums (C): sum of x when total_sum is null, else the sum of (x - total_sum / count)^2.
void batch_norm2d_channel_sums(Tensor& sums, const Tensor& inp, const Tensor* total_sum, double count,
                               const BatchNormDesc& d, Impl impl);
// From the ranks' total_sum and total_squares (C): save_mean, save_invstd = 1 / sqrt(squares / count + eps),
// and the running statistics' update with the unbiased variance squares / (count - 1).
void batch_norm2d_stats_from_sums(Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean, Tensor& running_var,
                                  const Tensor& total_sum, const Tensor& total_squares, double count,
                                  const BatchNormDesc& d, Impl impl);
// out = (x - save_mean) * save_invstd * gamma + beta, then ReLU when relu.
void batch_norm2d_normalize(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                            const Tensor& save_mean, const Tensor& save_invstd, bool relu, const BatchNormDesc& d,
                            Impl impl);
// sums (2C): this rank's sum(dy) in [0, C) and sum(dy * xhat) in [C, 2C), also added to dbeta and dgamma;
// dy = dout, or relu_backward(dout, out) when out (the fused forward's output) is given.
void batch_norm2d_backward_sums(Tensor& sums, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                                const Tensor* out, const Tensor& save_mean, const Tensor& save_invstd,
                                const BatchNormDesc& d, Impl impl);
// dinp = gamma * invstd / count * (count * dy - sum(dy) - xhat * sum(dy * xhat)), the sums the ranks' totals.
void batch_norm2d_backward_apply(Tensor& dinp, const Tensor& dout, const Tensor& inp, const Tensor* out,
                                 const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                                 const Tensor& total_sums, double count, const BatchNormDesc& d, Impl impl);

// ---- a batch norm (evaluation) folded into the convolution before it, for inference: weight (K,C,R,S),
// bias (K) or null, gamma, beta, running_mean, running_var (K); weight_out and bias_out on their device.
// weight_out = weight * s per output channel and bias_out = beta + (bias - running_mean) * s, with
// s = gamma / sqrt(running_var + eps). Computed once per model on the host in double, for every
// backend (it touches each weight once; a kernel per backend would buy nothing).
void batch_norm2d_fold(Tensor& weight_out, Tensor& bias_out, const Tensor& weight, const Tensor* bias,
                       const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                       double eps);

// ---- global average pool: inp (N,C,H,W), out (N,C)
void global_avg_pool_forward(Tensor& out, const Tensor& inp, Impl impl);
void global_avg_pool_backward(Tensor& dinp, const Tensor& dout, Impl impl);

// ---- nearest-neighbour upsampling: inp (N,C,H,W) -> out (N,C,H*scale,W*scale); dinp = the sum of each
// scale x scale block of dout
void upsample_nearest2d_forward(Tensor& out, const Tensor& inp, const UpsampleDesc& d, Impl impl);
void upsample_nearest2d_backward(Tensor& dinp, const Tensor& dout, const UpsampleDesc& d, Impl impl);

// ---- soft-argmax: inp (N,K,H,W) -> probs (N,K,H,W), out (N,2K) (kernels/descriptors.h's SoftArgmaxDesc).
// A NaN anywhere in a map (or +Inf, or a map of only -Inf) makes that map's probs and point NaN, as
// PyTorch's softmax does. The backward takes the forward's probs and out.
void soft_argmax2d_forward(Tensor& out, Tensor& probs, const Tensor& inp, const SoftArgmaxDesc& d, Impl impl);
void soft_argmax2d_backward(Tensor& dinp, const Tensor& dout, const Tensor& probs, const Tensor& out,
                            const SoftArgmaxDesc& d, Impl impl);

// ---- elementwise: out = a + b (any shape; out may alias a or b)
void add(Tensor& out, const Tensor& a, const Tensor& b, Impl impl);

// ---- losses: loss (1) = mean over all elements; dpred = dloss * d(loss)/d(pred)
void mse_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl);
void mse_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl);
void l1_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl);
void l1_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl);
void wing_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, const WingDesc& d, Impl impl);
void wing_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, const WingDesc& d, double dloss,
                        Impl impl);

// ---- optimizers, in place on param, m, v / momentum
void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamDesc& d, Impl impl);
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdDesc& d, Impl impl);

}  // namespace ops
}  // namespace keynet
