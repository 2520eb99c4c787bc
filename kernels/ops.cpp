// Dispatch of kernels/ops.h on (device, dtype, Impl), plus the argument checks every backend relies on.
#include "kernels/ops.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/ref/batch_norm2d.h"
#include "kernels/cpu/ref/conv2d.h"
#include "kernels/cpu/ref/global_avg_pool.h"
#include "kernels/cpu/ref/linear.h"
#include "kernels/cpu/ref/losses.h"
#include "kernels/cpu/ref/max_pool2d.h"
#include "kernels/cpu/ref/optimizers.h"
#include "kernels/cpu/ref/relu.h"
#include "kernels/cuda/cuda_ops.h"

namespace keynet {

const char* to_string(Impl impl) {
  switch (impl) {
    case Impl::Ref: return "ref";
    case Impl::Fast: return "fast";
    case Impl::Vendor: return "vendor";
  }
  return "?";
}

Impl parse_impl(const std::string& name) {
  if (name == "ref") return Impl::Ref;
  if (name == "fast") return Impl::Fast;
  if (name == "vendor") return Impl::Vendor;
  KEYNET_FAIL("unknown implementation '", name, "': expected ref, fast or vendor");
}

namespace {
Impl initial_impl() {
  const char* env = std::getenv("KEYNET_IMPL");
  return env && *env ? parse_impl(env) : Impl::Fast;
}
std::atomic<Impl>& default_impl_slot() {
  static std::atomic<Impl> slot{initial_impl()};
  return slot;
}
int initial_threads() {
  const char* env = std::getenv("KEYNET_THREADS");
  if (env && *env) {
    const int threads = std::atoi(env);
    KEYNET_CHECK(threads > 0, "KEYNET_THREADS must be a positive integer, got '", env, "'");
    return threads;
  }
  return omp_get_num_procs();
}
std::atomic<int>& threads_slot() {
  static std::atomic<int> slot{initial_threads()};
  return slot;
}
}  // namespace

Impl default_impl() { return default_impl_slot().load(); }
void set_default_impl(Impl impl) { default_impl_slot().store(impl); }
int cpu_threads() { return threads_slot().load(); }
void set_cpu_threads(int threads) {
  KEYNET_CHECK(threads > 0, "thread count must be positive, got ", threads);
  threads_slot().store(threads);
}

namespace ops {

namespace {

// The CPU has no vendor library of its own: Vendor runs the fast path, and says so once.
bool cpu_use_reference(Impl impl) {
  if (impl == Impl::Vendor) {
    static std::once_flag logged;
    std::call_once(logged, [] { std::cerr << "keynet: impl=vendor on the CPU runs the fast CPU kernels\n"; });
  }
  return impl == Impl::Ref;
}

void expect_shape(const Tensor& t, const Shape& shape, const char* op, const char* name) {
  KEYNET_CHECK(t.defined(), op, ": ", name, " is undefined");
  KEYNET_CHECK(t.shape() == shape, op, ": ", name, " has shape ", to_string(t.shape()), ", expected ",
               to_string(shape));
}

void expect_same_place(const Tensor& reference, const Tensor& t, const char* op, const char* name) {
  KEYNET_CHECK(t.device() == reference.device() && t.dtype() == reference.dtype(), op, ": ", name, " is ",
               t.describe(), " but the input is ", reference.describe());
}

template <class T> T* ptr(Tensor& t) { return t.data<T>(); }
template <class T> const T* ptr(const Tensor& t) { return t.data<T>(); }
template <class T> T* ptr(Tensor* t) { return t ? t->data<T>() : nullptr; }
template <class T> const T* ptr(const Tensor* t) { return t ? t->data<T>() : nullptr; }

void check_conv(const Tensor& inp, const Tensor& weight, const Tensor* bias, const ConvDesc& d, const char* op) {
  KEYNET_CHECK(d.N > 0 && d.C > 0 && d.H > 0 && d.W > 0 && d.K > 0 && d.R > 0 && d.S > 0 && d.stride > 0 &&
                   d.pad >= 0,
               op, ": invalid descriptor N=", d.N, " C=", d.C, " H=", d.H, " W=", d.W, " K=", d.K, " R=", d.R,
               " S=", d.S, " stride=", d.stride, " pad=", d.pad);
  KEYNET_CHECK(d.P() > 0 && d.Q() > 0, op, ": kernel ", d.R, "x", d.S, " with padding ", d.pad,
               " does not fit input ", d.H, "x", d.W);
  expect_shape(inp, {d.N, d.C, d.H, d.W}, op, "input");
  expect_shape(weight, {d.K, d.C, d.R, d.S}, op, "weight");
  expect_same_place(inp, weight, op, "weight");
  if (bias) {
    expect_shape(*bias, {d.K}, op, "bias");
    expect_same_place(inp, *bias, op, "bias");
  }
}

void check_pool(const Tensor& inp, const PoolDesc& d, const char* op) {
  KEYNET_CHECK(d.kernel > 0 && d.stride > 0 && d.pad >= 0 && 2 * d.pad <= d.kernel, op, ": invalid kernel ",
               d.kernel, " stride ", d.stride, " padding ", d.pad, " (padding must be at most half the kernel)");
  KEYNET_CHECK(d.P() > 0 && d.Q() > 0, op, ": window ", d.kernel, " does not fit input ", d.H, "x", d.W);
  expect_shape(inp, {d.N, d.C, d.H, d.W}, op, "input");
}

void check_bn(const Tensor& inp, const BatchNormDesc& d, const char* op) {
  KEYNET_CHECK(inp.ndim() == 4 && inp.dim(0) == d.N && inp.dim(1) == d.C && inp.dim(2) * inp.dim(3) == d.HW, op,
               ": input ", to_string(inp.shape()), " does not match descriptor N=", d.N, " C=", d.C, " HW=", d.HW);
}

void check_channel_vectors(const Tensor& inp, std::initializer_list<const Tensor*> vectors, int C, const char* op) {
  for (const Tensor* v : vectors) {
    expect_shape(*v, {C}, op, "per-channel tensor");
    expect_same_place(inp, *v, op, "per-channel tensor");
  }
}

void check_linear(const Tensor& inp, const Tensor& weight, const Tensor* bias, const char* op) {
  KEYNET_CHECK(inp.ndim() == 2 && weight.ndim() == 2 && inp.dim(1) == weight.dim(1), op, ": input ",
               to_string(inp.shape()), " and weight ", to_string(weight.shape()),
               " do not fit (expected input (N,I) and weight (O,I))");
  expect_same_place(inp, weight, op, "weight");
  if (bias) {
    expect_shape(*bias, {weight.dim(0)}, op, "bias");
    expect_same_place(inp, *bias, op, "bias");
  }
}

void check_pair(const Tensor& a, const Tensor& b, const char* op) {
  KEYNET_CHECK(a.shape() == b.shape(), op, ": shapes differ: ", to_string(a.shape()), " vs ", to_string(b.shape()));
  expect_same_place(a, b, op, "second operand");
}

}  // namespace

// ------------------------------------------------------------------------------------------ conv
void conv2d_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, const ConvDesc& d,
                    Impl impl) {
  check_conv(inp, weight, bias, d, "conv2d_forward");
  expect_shape(out, {d.N, d.K, d.P(), d.Q()}, "conv2d_forward", "output");
  if (inp.is_cuda()) return cuda_ops::conv2d_forward(out, inp, weight, bias, d, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::conv2d_forward(ptr<double>(out), ptr<double>(inp), ptr<double>(weight), ptr<double>(bias), d);
  if (cpu_use_reference(impl))
    return cpu::ref::conv2d_forward(ptr<float>(out), ptr<float>(inp), ptr<float>(weight), ptr<float>(bias), d);
  cpu::fast::conv2d_forward(ptr<float>(out), ptr<float>(inp), ptr<float>(weight), ptr<float>(bias), d);
}

void conv2d_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, const ConvDesc& d, Impl impl) {
  check_conv(inp, weight, dbias, d, "conv2d_backward");
  expect_shape(dout, {d.N, d.K, d.P(), d.Q()}, "conv2d_backward", "output gradient");
  expect_shape(dweight, weight.shape(), "conv2d_backward", "weight gradient");
  if (dinp) expect_shape(*dinp, inp.shape(), "conv2d_backward", "input gradient");
  if (inp.is_cuda()) return cuda_ops::conv2d_backward(dinp, dweight, dbias, dout, inp, weight, d, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::conv2d_backward(ptr<double>(dinp), ptr<double>(dweight), ptr<double>(dbias), ptr<double>(dout),
                                     ptr<double>(inp), ptr<double>(weight), d);
  if (cpu_use_reference(impl))
    return cpu::ref::conv2d_backward(ptr<float>(dinp), ptr<float>(dweight), ptr<float>(dbias), ptr<float>(dout),
                                     ptr<float>(inp), ptr<float>(weight), d);
  cpu::fast::conv2d_backward(ptr<float>(dinp), ptr<float>(dweight), ptr<float>(dbias), ptr<float>(dout),
                             ptr<float>(inp), ptr<float>(weight), d);
}

// ------------------------------------------------------------------------------------------ pool
void max_pool2d_forward(Tensor& out, const Tensor& inp, const PoolDesc& d, Impl impl) {
  check_pool(inp, d, "max_pool2d_forward");
  expect_shape(out, {d.N, d.C, d.P(), d.Q()}, "max_pool2d_forward", "output");
  if (inp.is_cuda()) return cuda_ops::max_pool2d_forward(out, inp, d, impl);
  if (inp.dtype() == DType::F64) return cpu::ref::max_pool2d_forward(ptr<double>(out), ptr<double>(inp), d);
  if (cpu_use_reference(impl)) return cpu::ref::max_pool2d_forward(ptr<float>(out), ptr<float>(inp), d);
  cpu::fast::max_pool2d_forward(ptr<float>(out), ptr<float>(inp), d);
}

void max_pool2d_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp, const Tensor& out, const PoolDesc& d,
                         Impl impl) {
  check_pool(inp, d, "max_pool2d_backward");
  expect_shape(dout, {d.N, d.C, d.P(), d.Q()}, "max_pool2d_backward", "output gradient");
  expect_shape(out, dout.shape(), "max_pool2d_backward", "output");
  expect_shape(dinp, inp.shape(), "max_pool2d_backward", "input gradient");
  if (inp.is_cuda()) return cuda_ops::max_pool2d_backward(dinp, dout, inp, out, d, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::max_pool2d_backward(ptr<double>(dinp), ptr<double>(dout), ptr<double>(inp), d);
  if (cpu_use_reference(impl))
    return cpu::ref::max_pool2d_backward(ptr<float>(dinp), ptr<float>(dout), ptr<float>(inp), d);
  cpu::fast::max_pool2d_backward(ptr<float>(dinp), ptr<float>(dout), ptr<float>(inp), d);
}

// ------------------------------------------------------------------------------------------ relu, add
void relu_forward(Tensor& out, const Tensor& inp, Impl impl) {
  check_pair(out, inp, "relu_forward");
  if (inp.is_cuda()) return cuda_ops::relu_forward(out, inp, impl);
  if (inp.dtype() == DType::F64) return cpu::ref::relu_forward(ptr<double>(out), ptr<double>(inp), inp.numel());
  if (cpu_use_reference(impl)) return cpu::ref::relu_forward(ptr<float>(out), ptr<float>(inp), inp.numel());
  cpu::fast::relu_forward(ptr<float>(out), ptr<float>(inp), inp.numel());
}

void relu_backward(Tensor& dinp, const Tensor& dout, const Tensor& out, Impl impl) {
  check_pair(dinp, dout, "relu_backward");
  check_pair(dout, out, "relu_backward");
  if (out.is_cuda()) return cuda_ops::relu_backward(dinp, dout, out, impl);
  if (out.dtype() == DType::F64)
    return cpu::ref::relu_backward(ptr<double>(dinp), ptr<double>(dout), ptr<double>(out), out.numel());
  if (cpu_use_reference(impl))
    return cpu::ref::relu_backward(ptr<float>(dinp), ptr<float>(dout), ptr<float>(out), out.numel());
  cpu::fast::relu_backward(ptr<float>(dinp), ptr<float>(dout), ptr<float>(out), out.numel());
}

void add(Tensor& out, const Tensor& a, const Tensor& b, Impl impl) {
  check_pair(a, b, "add");
  check_pair(out, a, "add");
  if (a.is_cuda()) return cuda_ops::add(out, a, b, impl);
  if (a.dtype() == DType::F64) return cpu::ref::add(ptr<double>(out), ptr<double>(a), ptr<double>(b), a.numel());
  if (cpu_use_reference(impl)) return cpu::ref::add(ptr<float>(out), ptr<float>(a), ptr<float>(b), a.numel());
  cpu::fast::add(ptr<float>(out), ptr<float>(a), ptr<float>(b), a.numel());
}

// ------------------------------------------------------------------------------------------ linear
void linear_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, Impl impl) {
  check_linear(inp, weight, bias, "linear_forward");
  const int N = inp.dim(0), I = inp.dim(1), O = weight.dim(0);
  expect_shape(out, {N, O}, "linear_forward", "output");
  if (inp.is_cuda()) return cuda_ops::linear_forward(out, inp, weight, bias, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::linear_forward(ptr<double>(out), ptr<double>(inp), ptr<double>(weight), ptr<double>(bias), N,
                                    I, O);
  if (cpu_use_reference(impl))
    return cpu::ref::linear_forward(ptr<float>(out), ptr<float>(inp), ptr<float>(weight), ptr<float>(bias), N, I, O);
  cpu::fast::linear_forward(ptr<float>(out), ptr<float>(inp), ptr<float>(weight), ptr<float>(bias), N, I, O);
}

void linear_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, Impl impl) {
  check_linear(inp, weight, dbias, "linear_backward");
  const int N = inp.dim(0), I = inp.dim(1), O = weight.dim(0);
  expect_shape(dout, {N, O}, "linear_backward", "output gradient");
  expect_shape(dweight, weight.shape(), "linear_backward", "weight gradient");
  if (dinp) expect_shape(*dinp, inp.shape(), "linear_backward", "input gradient");
  if (inp.is_cuda()) return cuda_ops::linear_backward(dinp, dweight, dbias, dout, inp, weight, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::linear_backward(ptr<double>(dinp), ptr<double>(dweight), ptr<double>(dbias), ptr<double>(dout),
                                     ptr<double>(inp), ptr<double>(weight), N, I, O);
  if (cpu_use_reference(impl))
    return cpu::ref::linear_backward(ptr<float>(dinp), ptr<float>(dweight), ptr<float>(dbias), ptr<float>(dout),
                                     ptr<float>(inp), ptr<float>(weight), N, I, O);
  cpu::fast::linear_backward(ptr<float>(dinp), ptr<float>(dweight), ptr<float>(dbias), ptr<float>(dout),
                             ptr<float>(inp), ptr<float>(weight), N, I, O);
}

// ------------------------------------------------------------------------------------------ batch norm
void batch_norm2d_forward_train(Tensor& out, Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                                Tensor& running_var, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_forward_train";
  check_bn(inp, d, op);
  check_pair(out, inp, op);
  check_channel_vectors(inp, {&save_mean, &save_invstd, &running_mean, &running_var, &gamma, &beta}, d.C, op);
  if (inp.is_cuda())
    return cuda_ops::batch_norm2d_forward_train(out, save_mean, save_invstd, running_mean, running_var, inp, gamma,
                                                beta, d, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::batch_norm2d_forward_train(ptr<double>(out), ptr<double>(save_mean), ptr<double>(save_invstd),
                                                ptr<double>(running_mean), ptr<double>(running_var), ptr<double>(inp),
                                                ptr<double>(gamma), ptr<double>(beta), d);
  if (cpu_use_reference(impl))
    return cpu::ref::batch_norm2d_forward_train(ptr<float>(out), ptr<float>(save_mean), ptr<float>(save_invstd),
                                                ptr<float>(running_mean), ptr<float>(running_var), ptr<float>(inp),
                                                ptr<float>(gamma), ptr<float>(beta), d);
  cpu::fast::batch_norm2d_forward_train(ptr<float>(out), ptr<float>(save_mean), ptr<float>(save_invstd),
                                        ptr<float>(running_mean), ptr<float>(running_var), ptr<float>(inp),
                                        ptr<float>(gamma), ptr<float>(beta), d);
}

void batch_norm2d_forward_eval(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, const BatchNormDesc& d,
                               Impl impl) {
  const char* op = "batch_norm2d_forward_eval";
  check_bn(inp, d, op);
  check_pair(out, inp, op);
  check_channel_vectors(inp, {&running_mean, &running_var, &gamma, &beta}, d.C, op);
  if (inp.is_cuda())
    return cuda_ops::batch_norm2d_forward_eval(out, inp, gamma, beta, running_mean, running_var, d, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::batch_norm2d_forward_eval(ptr<double>(out), ptr<double>(inp), ptr<double>(gamma),
                                               ptr<double>(beta), ptr<double>(running_mean),
                                               ptr<double>(running_var), d);
  if (cpu_use_reference(impl))
    return cpu::ref::batch_norm2d_forward_eval(ptr<float>(out), ptr<float>(inp), ptr<float>(gamma), ptr<float>(beta),
                                               ptr<float>(running_mean), ptr<float>(running_var), d);
  cpu::fast::batch_norm2d_forward_eval(ptr<float>(out), ptr<float>(inp), ptr<float>(gamma), ptr<float>(beta),
                                       ptr<float>(running_mean), ptr<float>(running_var), d);
}

void batch_norm2d_backward(Tensor& dinp, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                           const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                           const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_backward";
  check_bn(inp, d, op);
  check_pair(dinp, inp, op);
  check_pair(dout, inp, op);
  check_channel_vectors(inp, {&dgamma, &dbeta, &gamma, &save_mean, &save_invstd}, d.C, op);
  if (inp.is_cuda())
    return cuda_ops::batch_norm2d_backward(dinp, dgamma, dbeta, dout, inp, gamma, save_mean, save_invstd, d, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::batch_norm2d_backward(ptr<double>(dinp), ptr<double>(dgamma), ptr<double>(dbeta),
                                           ptr<double>(dout), ptr<double>(inp), ptr<double>(gamma),
                                           ptr<double>(save_mean), ptr<double>(save_invstd), d);
  if (cpu_use_reference(impl))
    return cpu::ref::batch_norm2d_backward(ptr<float>(dinp), ptr<float>(dgamma), ptr<float>(dbeta), ptr<float>(dout),
                                           ptr<float>(inp), ptr<float>(gamma), ptr<float>(save_mean),
                                           ptr<float>(save_invstd), d);
  cpu::fast::batch_norm2d_backward(ptr<float>(dinp), ptr<float>(dgamma), ptr<float>(dbeta), ptr<float>(dout),
                                   ptr<float>(inp), ptr<float>(gamma), ptr<float>(save_mean), ptr<float>(save_invstd),
                                   d);
}

// ------------------------------------------------------------------------------------------ global avg pool
void global_avg_pool_forward(Tensor& out, const Tensor& inp, Impl impl) {
  KEYNET_CHECK(inp.ndim() == 4, "global_avg_pool_forward: expected input (N,C,H,W), got ", to_string(inp.shape()));
  expect_shape(out, {inp.dim(0), inp.dim(1)}, "global_avg_pool_forward", "output");
  expect_same_place(inp, out, "global_avg_pool_forward", "output");
  const int planes = inp.dim(0) * inp.dim(1), HW = inp.dim(2) * inp.dim(3);
  if (inp.is_cuda()) return cuda_ops::global_avg_pool_forward(out, inp, impl);
  if (inp.dtype() == DType::F64)
    return cpu::ref::global_avg_pool_forward(ptr<double>(out), ptr<double>(inp), planes, HW);
  if (cpu_use_reference(impl)) return cpu::ref::global_avg_pool_forward(ptr<float>(out), ptr<float>(inp), planes, HW);
  cpu::fast::global_avg_pool_forward(ptr<float>(out), ptr<float>(inp), planes, HW);
}

void global_avg_pool_backward(Tensor& dinp, const Tensor& dout, Impl impl) {
  KEYNET_CHECK(dinp.ndim() == 4, "global_avg_pool_backward: expected input gradient (N,C,H,W), got ",
               to_string(dinp.shape()));
  expect_shape(dout, {dinp.dim(0), dinp.dim(1)}, "global_avg_pool_backward", "output gradient");
  expect_same_place(dinp, dout, "global_avg_pool_backward", "output gradient");
  const int planes = dinp.dim(0) * dinp.dim(1), HW = dinp.dim(2) * dinp.dim(3);
  if (dinp.is_cuda()) return cuda_ops::global_avg_pool_backward(dinp, dout, impl);
  if (dinp.dtype() == DType::F64)
    return cpu::ref::global_avg_pool_backward(ptr<double>(dinp), ptr<double>(dout), planes, HW);
  if (cpu_use_reference(impl))
    return cpu::ref::global_avg_pool_backward(ptr<float>(dinp), ptr<float>(dout), planes, HW);
  cpu::fast::global_avg_pool_backward(ptr<float>(dinp), ptr<float>(dout), planes, HW);
}

// ------------------------------------------------------------------------------------------ losses
namespace {
void check_loss(const Tensor& loss_or_grad, const Tensor& pred, const Tensor& target, const char* op, bool is_grad) {
  check_pair(pred, target, op);
  KEYNET_CHECK(pred.numel() > 0, op, ": empty prediction");
  if (is_grad)
    check_pair(loss_or_grad, pred, op);
  else
    expect_shape(loss_or_grad, {1}, op, "loss");
  expect_same_place(pred, loss_or_grad, op, is_grad ? "gradient" : "loss");
}
}  // namespace

void mse_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  check_loss(loss, pred, target, "mse_loss_forward", false);
  if (pred.is_cuda()) return cuda_ops::mse_loss_forward(loss, pred, target, impl);
  if (pred.dtype() == DType::F64) {
    loss.data<double>()[0] = cpu::ref::mse_loss_forward(ptr<double>(pred), ptr<double>(target), pred.numel());
    return;
  }
  loss.data<float>()[0] = cpu_use_reference(impl)
                              ? cpu::ref::mse_loss_forward(ptr<float>(pred), ptr<float>(target), pred.numel())
                              : cpu::fast::mse_loss_forward(ptr<float>(pred), ptr<float>(target), pred.numel());
}

void mse_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  check_loss(dpred, pred, target, "mse_loss_backward", true);
  if (pred.is_cuda()) return cuda_ops::mse_loss_backward(dpred, pred, target, dloss, impl);
  if (pred.dtype() == DType::F64)
    return cpu::ref::mse_loss_backward(ptr<double>(dpred), ptr<double>(pred), ptr<double>(target), dloss,
                                       pred.numel());
  if (cpu_use_reference(impl))
    return cpu::ref::mse_loss_backward(ptr<float>(dpred), ptr<float>(pred), ptr<float>(target), float(dloss),
                                       pred.numel());
  cpu::fast::mse_loss_backward(ptr<float>(dpred), ptr<float>(pred), ptr<float>(target), float(dloss), pred.numel());
}

void l1_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  check_loss(loss, pred, target, "l1_loss_forward", false);
  if (pred.is_cuda()) return cuda_ops::l1_loss_forward(loss, pred, target, impl);
  if (pred.dtype() == DType::F64) {
    loss.data<double>()[0] = cpu::ref::l1_loss_forward(ptr<double>(pred), ptr<double>(target), pred.numel());
    return;
  }
  loss.data<float>()[0] = cpu_use_reference(impl)
                              ? cpu::ref::l1_loss_forward(ptr<float>(pred), ptr<float>(target), pred.numel())
                              : cpu::fast::l1_loss_forward(ptr<float>(pred), ptr<float>(target), pred.numel());
}

void l1_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  check_loss(dpred, pred, target, "l1_loss_backward", true);
  if (pred.is_cuda()) return cuda_ops::l1_loss_backward(dpred, pred, target, dloss, impl);
  if (pred.dtype() == DType::F64)
    return cpu::ref::l1_loss_backward(ptr<double>(dpred), ptr<double>(pred), ptr<double>(target), dloss,
                                      pred.numel());
  if (cpu_use_reference(impl))
    return cpu::ref::l1_loss_backward(ptr<float>(dpred), ptr<float>(pred), ptr<float>(target), float(dloss),
                                      pred.numel());
  cpu::fast::l1_loss_backward(ptr<float>(dpred), ptr<float>(pred), ptr<float>(target), float(dloss), pred.numel());
}

// ------------------------------------------------------------------------------------------ optimizers
void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamDesc& d, Impl impl) {
  check_pair(param, grad, "adam_update");
  check_pair(param, m, "adam_update");
  check_pair(param, v, "adam_update");
  KEYNET_CHECK(d.step >= 1, "adam_update: step counts from 1, got ", d.step);
  if (param.is_cuda()) return cuda_ops::adam_update(param, grad, m, v, d, impl);
  if (param.dtype() == DType::F64)
    return cpu::ref::adam_update(ptr<double>(param), ptr<double>(grad), ptr<double>(m), ptr<double>(v),
                                 param.numel(), d);
  if (cpu_use_reference(impl))
    return cpu::ref::adam_update(ptr<float>(param), ptr<float>(grad), ptr<float>(m), ptr<float>(v), param.numel(), d);
  cpu::fast::adam_update(ptr<float>(param), ptr<float>(grad), ptr<float>(m), ptr<float>(v), param.numel(), d);
}

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdDesc& d, Impl impl) {
  check_pair(param, grad, "sgd_update");
  check_pair(param, momentum_buffer, "sgd_update");
  if (param.is_cuda()) return cuda_ops::sgd_update(param, grad, momentum_buffer, d, impl);
  if (param.dtype() == DType::F64)
    return cpu::ref::sgd_update(ptr<double>(param), ptr<double>(grad), ptr<double>(momentum_buffer), param.numel(), d);
  if (cpu_use_reference(impl))
    return cpu::ref::sgd_update(ptr<float>(param), ptr<float>(grad), ptr<float>(momentum_buffer), param.numel(), d);
  cpu::fast::sgd_update(ptr<float>(param), ptr<float>(grad), ptr<float>(momentum_buffer), param.numel(), d);
}

}  // namespace ops
}  // namespace keynet
