// The CUDA side of kernels/ops.h: same functions, same contracts, for tensors on the CUDA device.
// kernels/ops.cpp forwards here; each function chooses naive (Impl::Ref), tiled (Impl::Fast) or
// cuDNN/cuBLAS (Impl::Vendor) kernels. In builds without CUDA, cuda_ops_nocuda.cpp says so.
#pragma once
#include "kernels/ops.h"

namespace keynet::cuda_ops {

using ops::AdamDesc;
using ops::BatchNormDesc;
using ops::ConvDesc;
using ops::PoolDesc;
using ops::SgdDesc;
void conv2d_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, const ConvDesc& d,
                    Impl impl);
void conv2d_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, const ConvDesc& d, Impl impl);
void max_pool2d_forward(Tensor& out, const Tensor& inp, const PoolDesc& d, Impl impl);
void max_pool2d_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp, const Tensor& out, const PoolDesc& d,
                         Impl impl);
void relu_forward(Tensor& out, const Tensor& inp, Impl impl);
void relu_backward(Tensor& dinp, const Tensor& dout, const Tensor& out, Impl impl);
void linear_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, Impl impl);
void linear_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, Impl impl);
void batch_norm2d_forward_train(Tensor& out, Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                                Tensor& running_var, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                const BatchNormDesc& d, Impl impl);
void batch_norm2d_forward_eval(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, const BatchNormDesc& d,
                               Impl impl);
void batch_norm2d_backward(Tensor& dinp, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                           const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                           const BatchNormDesc& d, Impl impl);
void global_avg_pool_forward(Tensor& out, const Tensor& inp, Impl impl);
void global_avg_pool_backward(Tensor& dinp, const Tensor& dout, Impl impl);
void add(Tensor& out, const Tensor& a, const Tensor& b, Impl impl);
void mse_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl);
void mse_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl);
void l1_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl);
void l1_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl);
void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamDesc& d, Impl impl);
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdDesc& d, Impl impl);

}  // namespace keynet::cuda_ops
