// The CUDA side of kernels/ops.h: picks naive (Impl::Ref), handwritten tiled (Impl::Fast) or
// cuDNN/cuBLAS (Impl::Vendor) for tensors on the GPU. kernels/ops.cpp has already checked shapes,
// devices and dtypes. Ops the vendor libraries do not have (add, global average pool, losses,
// optimizers) run our fast kernels under Impl::Vendor, and say so once per op.
#include <cuda_runtime.h>

#include <iostream>
#include <mutex>
#include <set>
#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/kernels.h"
#include "kernels/vendor/vendor.h"

namespace keynet {

namespace cuda {
int multiprocessor_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    KEYNET_CUDA_CHECK(cudaGetDevice(&device));
    KEYNET_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }();
  return count;
}
}  // namespace cuda

namespace cuda_ops {

namespace {

float* f(Tensor& t) { return t.data<float>(); }
const float* f(const Tensor& t) { return t.data<float>(); }
float* f(Tensor* t) { return t ? t->data<float>() : nullptr; }
const float* f(const Tensor* t) { return t ? t->data<float>() : nullptr; }

// Under Impl::Vendor, an op without a vendor version runs our fast kernel; say so once per op.
void vendor_has_none(const char* op) {
  static std::mutex mutex;
  static std::set<std::string> logged;
  std::lock_guard<std::mutex> lock(mutex);
  if (logged.insert(op).second)
    std::cerr << "keynet: impl=vendor: cuDNN/cuBLAS have no " << op << "; running keynet's fast CUDA kernel\n";
}

}  // namespace

void conv2d_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, const ConvDesc& d,
                    Impl impl) {
  switch (impl) {
    case Impl::Ref: return cuda::conv2d_forward_naive(f(out), f(inp), f(weight), f(bias), d);
    case Impl::Fast: return cuda::conv2d_forward_tiled(f(out), f(inp), f(weight), f(bias), d);
    case Impl::Vendor: return vendor::conv2d_forward(f(out), f(inp), f(weight), f(bias), d);
  }
}

void conv2d_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, const ConvDesc& d, Impl impl) {
  switch (impl) {
    case Impl::Ref:
      return cuda::conv2d_backward_naive(f(dinp), f(dweight), f(dbias), f(dout), f(inp), f(weight), d);
    case Impl::Fast:
      return cuda::conv2d_backward_tiled(f(dinp), f(dweight), f(dbias), f(dout), f(inp), f(weight), d);
    case Impl::Vendor: return vendor::conv2d_backward(f(dinp), f(dweight), f(dbias), f(dout), f(inp), f(weight), d);
  }
}

void max_pool2d_forward(Tensor& out, const Tensor& inp, const PoolDesc& d, Impl impl) {
  if (impl == Impl::Vendor) return vendor::max_pool2d_forward(f(out), f(inp), d);
  cuda::max_pool2d_forward(f(out), f(inp), d);  // one kernel serves Ref and Fast
}

void max_pool2d_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp, const Tensor& out, const PoolDesc& d,
                         Impl impl) {
  switch (impl) {
    case Impl::Ref: return cuda::max_pool2d_backward_naive(f(dinp), f(dout), f(inp), d);
    case Impl::Fast: return cuda::max_pool2d_backward_fast(f(dinp), f(dout), f(inp), d);
    case Impl::Vendor: return vendor::max_pool2d_backward(f(dinp), f(dout), f(inp), f(out), d);
  }
}

void relu_forward(Tensor& out, const Tensor& inp, Impl impl) {
  if (impl == Impl::Vendor) return vendor::relu_forward(f(out), f(inp), inp.numel());
  cuda::relu_forward(f(out), f(inp), inp.numel());
}

void relu_backward(Tensor& dinp, const Tensor& dout, const Tensor& out, Impl impl) {
  if (impl == Impl::Vendor) return vendor::relu_backward(f(dinp), f(dout), f(out), out.numel());
  cuda::relu_backward(f(dinp), f(dout), f(out), out.numel());
}

void linear_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, Impl impl) {
  const int N = inp.dim(0), I = inp.dim(1), O = weight.dim(0);
  switch (impl) {
    case Impl::Ref: return cuda::linear_forward_naive(f(out), f(inp), f(weight), f(bias), N, I, O);
    case Impl::Fast: return cuda::linear_forward_tiled(f(out), f(inp), f(weight), f(bias), N, I, O);
    case Impl::Vendor: return vendor::linear_forward(f(out), f(inp), f(weight), f(bias), N, I, O);
  }
}

void linear_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, Impl impl) {
  const int N = inp.dim(0), I = inp.dim(1), O = weight.dim(0);
  switch (impl) {
    case Impl::Ref:
      return cuda::linear_backward_naive(f(dinp), f(dweight), f(dbias), f(dout), f(inp), f(weight), N, I, O);
    case Impl::Fast:
      return cuda::linear_backward_tiled(f(dinp), f(dweight), f(dbias), f(dout), f(inp), f(weight), N, I, O);
    case Impl::Vendor:
      return vendor::linear_backward(f(dinp), f(dweight), f(dbias), f(dout), f(inp), f(weight), N, I, O);
  }
}

void batch_norm2d_forward_train(Tensor& out, Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                                Tensor& running_var, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                const BatchNormDesc& d, Impl impl) {
  switch (impl) {
    case Impl::Ref:
      return cuda::batch_norm2d_forward_train_naive(f(out), f(save_mean), f(save_invstd), f(running_mean),
                                                    f(running_var), f(inp), f(gamma), f(beta), d);
    case Impl::Fast:
      return cuda::batch_norm2d_forward_train_fast(f(out), f(save_mean), f(save_invstd), f(running_mean),
                                                   f(running_var), f(inp), f(gamma), f(beta), d);
    case Impl::Vendor:
      return vendor::batch_norm2d_forward_train(f(out), f(save_mean), f(save_invstd), f(running_mean),
                                                f(running_var), f(inp), f(gamma), f(beta), d);
  }
}

void batch_norm2d_forward_eval(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, const BatchNormDesc& d,
                               Impl impl) {
  if (impl == Impl::Vendor)
    return vendor::batch_norm2d_forward_eval(f(out), f(inp), f(gamma), f(beta), f(running_mean), f(running_var), d);
  // elementwise with per-channel constants: the naive kernel is the fast one
  cuda::batch_norm2d_forward_eval(f(out), f(inp), f(gamma), f(beta), f(running_mean), f(running_var), d);
}

void batch_norm2d_backward(Tensor& dinp, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                           const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                           const BatchNormDesc& d, Impl impl) {
  switch (impl) {
    case Impl::Ref:
      return cuda::batch_norm2d_backward_naive(f(dinp), f(dgamma), f(dbeta), f(dout), f(inp), f(gamma),
                                               f(save_mean), f(save_invstd), d);
    case Impl::Fast:
      return cuda::batch_norm2d_backward_fast(f(dinp), f(dgamma), f(dbeta), f(dout), f(inp), f(gamma),
                                              f(save_mean), f(save_invstd), d);
    case Impl::Vendor:
      return vendor::batch_norm2d_backward(f(dinp), f(dgamma), f(dbeta), f(dout), f(inp), f(gamma), f(save_mean),
                                           f(save_invstd), d);
  }
}

void global_avg_pool_forward(Tensor& out, const Tensor& inp, Impl impl) {
  const int planes = inp.dim(0) * inp.dim(1), HW = inp.dim(2) * inp.dim(3);
  if (impl == Impl::Ref) return cuda::global_avg_pool_forward_naive(f(out), f(inp), planes, HW);
  if (impl == Impl::Vendor) vendor_has_none("global_avg_pool_forward");
  cuda::global_avg_pool_forward_fast(f(out), f(inp), planes, HW);
}

void global_avg_pool_backward(Tensor& dinp, const Tensor& dout, Impl impl) {
  const int planes = dinp.dim(0) * dinp.dim(1), HW = dinp.dim(2) * dinp.dim(3);
  if (impl == Impl::Vendor) vendor_has_none("global_avg_pool_backward");
  cuda::global_avg_pool_backward(f(dinp), f(dout), planes, HW);
}

void add(Tensor& out, const Tensor& a, const Tensor& b, Impl impl) {
  if (impl == Impl::Vendor) vendor_has_none("add");
  cuda::add(f(out), f(a), f(b), a.numel());
}

void mse_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  if (impl == Impl::Ref) return cuda::mse_loss_forward_naive(f(loss), f(pred), f(target), pred.numel());
  if (impl == Impl::Vendor) vendor_has_none("mse_loss_forward");
  cuda::mse_loss_forward_fast(f(loss), f(pred), f(target), pred.numel());
}

void mse_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  if (impl == Impl::Vendor) vendor_has_none("mse_loss_backward");
  cuda::mse_loss_backward(f(dpred), f(pred), f(target), static_cast<float>(dloss), pred.numel());
}

void l1_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  if (impl == Impl::Ref) return cuda::l1_loss_forward_naive(f(loss), f(pred), f(target), pred.numel());
  if (impl == Impl::Vendor) vendor_has_none("l1_loss_forward");
  cuda::l1_loss_forward_fast(f(loss), f(pred), f(target), pred.numel());
}

void l1_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  if (impl == Impl::Vendor) vendor_has_none("l1_loss_backward");
  cuda::l1_loss_backward(f(dpred), f(pred), f(target), static_cast<float>(dloss), pred.numel());
}

void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamDesc& d, Impl impl) {
  if (impl == Impl::Vendor) vendor_has_none("adam_update");
  cuda::adam_update(f(param), f(grad), f(m), f(v), param.numel(), d);
}

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdDesc& d, Impl impl) {
  if (impl == Impl::Vendor) vendor_has_none("sgd_update");
  cuda::sgd_update(f(param), f(grad), f(momentum_buffer), param.numel(), d);
}

}  // namespace cuda_ops
}  // namespace keynet
