// The one dispatch site of kernels/ops.h: each op checks its arguments, then one switch picks the
// backend from (device, dtype, Impl) and calls that backend's launcher with raw pointers:
//   CpuRefF64 -> kernels/cpu/ref in double (gradient checks; whatever Impl says)
//   CpuRef    -> kernels/cpu/ref           CpuFast  -> kernels/cpu/fast     CpuEigen -> kernels/cpu/eigen
//   CudaRef   -> kernels/cuda, cuda::ref   CudaFast -> kernels/cuda, cuda::fast
//   Cudnn     -> kernels/cudnn (cuDNN, cuBLAS)
// Under Impl::Vendor an op the device's library lacks runs our fast kernel: its CpuEigen (or Cudnn) case
// shares the fast case's line and is never chosen. Backends that run one kernel share a line too (the
// CPU reference template for ReLU, add and the optimizers; a plain cuda:: kernel). A backend this build
// lacks has one path, KEYNET_ON_CUDA / KEYNET_ON_CUDNN, which says what to rebuild with; choose_backend
// refuses such a call before it gets there.
#include "kernels/ops.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <string_view>

#include "kernels/cpu/eigen/eigen.h"
#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/ref/batch_norm2d.h"
#include "kernels/cpu/ref/conv2d.h"
#include "kernels/cpu/ref/global_avg_pool.h"
#include "kernels/cpu/ref/linear.h"
#include "kernels/cpu/ref/losses.h"
#include "kernels/cpu/ref/max_pool2d.h"
#include "kernels/cpu/ref/optimizers.h"
#include "kernels/cpu/ref/relu.h"
#include "kernels/cpu/ref/soft_argmax.h"
#include "kernels/cpu/ref/upsample.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cudnn/cudnn.h"

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
}  // namespace

Impl default_impl() { return default_impl_slot().load(); }
void set_default_impl(Impl impl) { default_impl_slot().store(impl); }

namespace ops {

namespace {

constexpr bool kBuiltWithCuda =
#ifdef KEYNET_WITH_CUDA
    true;
#else
    false;
#endif
constexpr bool kBuiltWithCudnn =
#ifdef KEYNET_WITH_CUDNN
    true;
#else
    false;
#endif

[[noreturn]] void cuda_not_built(const char* op) {
  KEYNET_FAIL(op, ": this keynet was built without CUDA (install it and configure with -DKEYNET_CUDA=ON), "
                  "or keep the tensors on the CPU");
}
[[noreturn]] void cudnn_not_built(const char* op) {
  KEYNET_FAIL(op, ": this keynet was built without cuDNN and cuBLAS (install them and configure with "
                  "-DKEYNET_CUDNN=ON), or choose impl=fast");
}

// A CUDA or cuDNN launcher is named only where its library is linked in.
#ifdef KEYNET_WITH_CUDA
#define KEYNET_ON_CUDA(launch) launch
#else
#define KEYNET_ON_CUDA(launch) cuda_not_built(__func__)
#endif
#ifdef KEYNET_WITH_CUDNN
#define KEYNET_ON_CUDNN(launch) launch
#else
#define KEYNET_ON_CUDNN(launch) cudnn_not_built(__func__)
#endif

// Under Impl::Vendor, an op the device's library lacks runs our fast kernel there; said once per op and
// device. Runs on every such call: the lookup allocates nothing (only the first time an op is said).
void say_once_per_op(const char* op, bool on_cuda) {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> said[2];  // CPU, CUDA
  std::set<std::string, std::less<>>& ops_said = said[on_cuda ? 1 : 0];
  std::lock_guard<std::mutex> lock(mutex);
  if (ops_said.find(std::string_view(op)) != ops_said.end()) return;
  ops_said.emplace(op);
  std::cerr << "keynet: impl=vendor: " << (on_cuda ? "cuDNN/cuBLAS" : "Eigen") << " has no " << op
            << "; running keynet's fast " << (on_cuda ? "CUDA" : "CPU") << " kernel\n";
}

enum class Backend { CpuRefF64, CpuRef, CpuFast, CpuEigen, CudaRef, CudaFast, Cudnn };

// Which kept libraries have the op: Eigen (the CPU's vendor path) has the GEMM-based ops, cuDNN/cuBLAS
// (CUDA's) also pooling, activations and batch norm.
enum class Library { Both, CudnnOnly, Neither };

Backend choose_backend(const Tensor& t, Impl impl, const char* op, Library library) {
  if (t.is_cuda()) {
    if (!kBuiltWithCuda) cuda_not_built(op);
    KEYNET_CHECK(t.dtype() == DType::F32, op, ": the CUDA kernels take float32, got ", t.describe());
    if (impl == Impl::Ref) return Backend::CudaRef;
    if (impl == Impl::Fast) return Backend::CudaFast;
    if (library == Library::Neither) {
      say_once_per_op(op, true);
      return Backend::CudaFast;
    }
    if (!kBuiltWithCudnn) cudnn_not_built(op);
    return Backend::Cudnn;
  }
  if (t.dtype() == DType::F64) return Backend::CpuRefF64;
  if (impl == Impl::Ref) return Backend::CpuRef;
  if (impl == Impl::Fast) return Backend::CpuFast;
  if (library != Library::Both) {
    say_once_per_op(op, false);
    return Backend::CpuFast;
  }
  return Backend::CpuEigen;
}

// Raw pointers for the launchers; an absent optional tensor becomes nullptr. data<T>() checks the dtype.
float* f32(Tensor& t) { return t.data<float>(); }
const float* f32(const Tensor& t) { return t.data<float>(); }
float* f32(Tensor* t) { return t ? t->data<float>() : nullptr; }
const float* f32(const Tensor* t) { return t ? t->data<float>() : nullptr; }
double* f64(Tensor& t) { return t.data<double>(); }
const double* f64(const Tensor& t) { return t.data<double>(); }
double* f64(Tensor* t) { return t ? t->data<double>() : nullptr; }
const double* f64(const Tensor* t) { return t ? t->data<double>() : nullptr; }

// Every tensor an op reads or writes is on the device, and of the dtype, of the one that chose the
// backend (`reference`): a kernel handed a pointer to another device's memory would read or write
// through it unchecked.
void expect_same_place(const Tensor& reference, const Tensor& t, const char* op, const char* name,
                       const char* reference_name = "the input") {
  KEYNET_CHECK(t.device() == reference.device(), op, ": ", name, " is on ", to_string(t.device()), " but ",
               reference_name, " is on ", to_string(reference.device()), " (", name, " ", t.describe(), ", ",
               reference_name, " ", reference.describe(), ")");
  KEYNET_CHECK(t.dtype() == reference.dtype(), op, ": ", name, " is ", t.describe(), " but ", reference_name,
               " is ", reference.describe());
}

// An output or gradient an op writes: defined, of `shape`, and on the input's device and dtype.
void expect_shape(const Tensor& t, const Shape& shape, const Tensor& input, const char* op, const char* name) {
  KEYNET_CHECK(t.defined(), op, ": ", name, " is undefined");
  KEYNET_CHECK(t.shape() == shape, op, ": ", name, " has shape ", to_string(t.shape()), ", expected ",
               to_string(shape));
  expect_same_place(input, t, op, name);
}

void check_conv(const Tensor& inp, const Tensor& weight, const Tensor* bias, const ConvDesc& d, const char* op,
                const char* bias_name) {
  KEYNET_CHECK(d.N > 0 && d.C > 0 && d.H > 0 && d.W > 0 && d.K > 0 && d.R > 0 && d.S > 0 && d.stride > 0 &&
                   d.pad >= 0,
               op, ": invalid descriptor N=", d.N, " C=", d.C, " H=", d.H, " W=", d.W, " K=", d.K, " R=", d.R,
               " S=", d.S, " stride=", d.stride, " pad=", d.pad);
  KEYNET_CHECK(d.P() > 0 && d.Q() > 0, op, ": kernel ", d.R, "x", d.S, " with padding ", d.pad,
               " does not fit input ", d.H, "x", d.W);
  expect_shape(inp, {d.N, d.C, d.H, d.W}, inp, op, "input");
  expect_shape(weight, {d.K, d.C, d.R, d.S}, inp, op, "weight");
  if (bias) expect_shape(*bias, {d.K}, inp, op, bias_name);
}

void check_pool(const Tensor& inp, const PoolDesc& d, const char* op) {
  KEYNET_CHECK(d.kernel > 0 && d.stride > 0 && d.pad >= 0 && 2 * d.pad <= d.kernel, op, ": invalid kernel ",
               d.kernel, " stride ", d.stride, " padding ", d.pad, " (padding must be at most half the kernel)");
  KEYNET_CHECK(d.P() > 0 && d.Q() > 0, op, ": window ", d.kernel, " does not fit input ", d.H, "x", d.W);
  expect_shape(inp, {d.N, d.C, d.H, d.W}, inp, op, "input");
}

void check_bn(const Tensor& inp, const BatchNormDesc& d, const char* op) {
  KEYNET_CHECK(inp.ndim() == 4 && inp.dim(0) == d.N && inp.dim(1) == d.C && inp.dim(2) * inp.dim(3) == d.HW, op,
               ": input ", to_string(inp.shape()), " does not match descriptor N=", d.N, " C=", d.C, " HW=", d.HW);
}

void check_channel_vectors(const Tensor& inp, std::initializer_list<const Tensor*> vectors, int C, const char* op) {
  for (const Tensor* v : vectors) {
    expect_shape(*v, {C}, inp, op, "per-channel tensor");
  }
}

void check_linear(const Tensor& inp, const Tensor& weight, const Tensor* bias, const char* op, const char* bias_name) {
  KEYNET_CHECK(inp.ndim() == 2 && weight.ndim() == 2 && inp.dim(1) == weight.dim(1), op, ": input ",
               to_string(inp.shape()), " and weight ", to_string(weight.shape()),
               " do not fit (expected input (N,I) and weight (O,I))");
  expect_same_place(inp, weight, op, "weight");
  if (bias) expect_shape(*bias, {weight.dim(0)}, inp, op, bias_name);
}

// `t` (named `name`) has the shape, device and dtype of `reference` (named `reference_name`).
void check_pair(const Tensor& reference, const char* reference_name, const Tensor& t, const char* name,
                const char* op) {
  KEYNET_CHECK(reference.shape() == t.shape(), op, ": shapes differ: ", to_string(reference.shape()), " vs ",
               to_string(t.shape()), " (", reference_name, " and ", name, ")");
  expect_same_place(reference, t, op, name, reference_name);
}

}  // namespace

// ------------------------------------------------------------------------------------------ conv
void conv2d_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, const ConvDesc& d,
                    Impl impl) {
  check_conv(inp, weight, bias, d, "conv2d_forward", "bias");
  expect_shape(out, {d.N, d.K, d.P(), d.Q()}, inp, "conv2d_forward", "output");
  switch (choose_backend(inp, impl, "conv2d_forward", Library::Both)) {
    case Backend::CpuRefF64: return cpu::ref::conv2d_forward(f64(out), f64(inp), f64(weight), f64(bias), d);
    case Backend::CpuRef: return cpu::ref::conv2d_forward(f32(out), f32(inp), f32(weight), f32(bias), d);
    case Backend::CpuFast: return cpu::fast::conv2d_forward(f32(out), f32(inp), f32(weight), f32(bias), d);
    case Backend::CpuEigen: return cpu::eigen::conv2d_forward(f32(out), f32(inp), f32(weight), f32(bias), d);
    case Backend::CudaRef: return KEYNET_ON_CUDA(cuda::ref::conv2d_forward(f32(out), f32(inp), f32(weight), f32(bias), d));
    case Backend::CudaFast: return KEYNET_ON_CUDA(cuda::fast::conv2d_forward(f32(out), f32(inp), f32(weight), f32(bias), d));
    case Backend::Cudnn: return KEYNET_ON_CUDNN(cudnn::conv2d_forward(f32(out), f32(inp), f32(weight), f32(bias), d));
  }
}

void conv2d_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, const ConvDesc& d, Impl impl) {
  check_conv(inp, weight, dbias, d, "conv2d_backward", "bias gradient");
  expect_shape(dout, {d.N, d.K, d.P(), d.Q()}, inp, "conv2d_backward", "output gradient");
  expect_shape(dweight, weight.shape(), inp, "conv2d_backward", "weight gradient");
  if (dinp) expect_shape(*dinp, inp.shape(), inp, "conv2d_backward", "input gradient");
  switch (choose_backend(inp, impl, "conv2d_backward", Library::Both)) {
    case Backend::CpuRefF64:
      return cpu::ref::conv2d_backward(f64(dinp), f64(dweight), f64(dbias), f64(dout), f64(inp), f64(weight), d);
    case Backend::CpuRef:
      return cpu::ref::conv2d_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), d);
    case Backend::CpuFast:
      return cpu::fast::conv2d_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), d);
    case Backend::CpuEigen:
      return cpu::eigen::conv2d_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), d);
    case Backend::CudaRef:
      return KEYNET_ON_CUDA(
          cuda::ref::conv2d_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), d));
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(
          cuda::fast::conv2d_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(
          cudnn::conv2d_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), d));
  }
}

// ------------------------------------------------------------------------------------------ pool
void max_pool2d_forward(Tensor& out, const Tensor& inp, const PoolDesc& d, Impl impl) {
  check_pool(inp, d, "max_pool2d_forward");
  expect_shape(out, {d.N, d.C, d.P(), d.Q()}, inp, "max_pool2d_forward", "output");
  switch (choose_backend(inp, impl, "max_pool2d_forward", Library::CudnnOnly)) {
    case Backend::CpuRefF64: return cpu::ref::max_pool2d_forward(f64(out), f64(inp), d);
    case Backend::CpuRef: return cpu::ref::max_pool2d_forward(f32(out), f32(inp), d);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::max_pool2d_forward(f32(out), f32(inp), d);
    case Backend::CudaRef:  // one kernel is both the readable and the fast version
    case Backend::CudaFast: return KEYNET_ON_CUDA(cuda::max_pool2d_forward(f32(out), f32(inp), d));
    case Backend::Cudnn: return KEYNET_ON_CUDNN(cudnn::max_pool2d_forward(f32(out), f32(inp), d));
  }
}

void max_pool2d_backward(Tensor& dinp, const Tensor& dout, const Tensor& inp, const Tensor& out, const PoolDesc& d,
                         Impl impl) {
  check_pool(inp, d, "max_pool2d_backward");
  expect_shape(dout, {d.N, d.C, d.P(), d.Q()}, inp, "max_pool2d_backward", "output gradient");
  expect_shape(out, dout.shape(), inp, "max_pool2d_backward", "output");
  expect_shape(dinp, inp.shape(), inp, "max_pool2d_backward", "input gradient");
  switch (choose_backend(inp, impl, "max_pool2d_backward", Library::CudnnOnly)) {
    case Backend::CpuRefF64: return cpu::ref::max_pool2d_backward(f64(dinp), f64(dout), f64(inp), d);
    case Backend::CpuRef: return cpu::ref::max_pool2d_backward(f32(dinp), f32(dout), f32(inp), d);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::max_pool2d_backward(f32(dinp), f32(dout), f32(inp), d);
    case Backend::CudaRef: return KEYNET_ON_CUDA(cuda::ref::max_pool2d_backward(f32(dinp), f32(dout), f32(inp), d));
    case Backend::CudaFast: return KEYNET_ON_CUDA(cuda::fast::max_pool2d_backward(f32(dinp), f32(dout), f32(inp), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::max_pool2d_backward(f32(dinp), f32(dout), f32(inp), f32(out), d));
  }
}

// ------------------------------------------------------------------------------------------ relu, add
// Elementwise: one kernel per direction is both the readable and the fast version, on the CPU (the
// reference template) and on CUDA.
void relu_forward(Tensor& out, const Tensor& inp, Impl impl) {
  check_pair(inp, "the input", out, "output", "relu_forward");
  const int64_t n = inp.numel();
  switch (choose_backend(inp, impl, "relu_forward", Library::CudnnOnly)) {
    case Backend::CpuRefF64: return cpu::ref::relu_forward(f64(out), f64(inp), n);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::ref::relu_forward(f32(out), f32(inp), n);
    case Backend::CudaRef:
    case Backend::CudaFast: return KEYNET_ON_CUDA(cuda::relu_forward(f32(out), f32(inp), n));
    case Backend::Cudnn: return KEYNET_ON_CUDNN(cudnn::relu_forward(f32(out), f32(inp), n));
  }
}

void relu_backward(Tensor& dinp, const Tensor& dout, const Tensor& out, Impl impl) {
  check_pair(out, "the output", dout, "output gradient", "relu_backward");
  check_pair(out, "the output", dinp, "input gradient", "relu_backward");
  const int64_t n = out.numel();
  switch (choose_backend(out, impl, "relu_backward", Library::CudnnOnly)) {
    case Backend::CpuRefF64: return cpu::ref::relu_backward(f64(dinp), f64(dout), f64(out), n);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::ref::relu_backward(f32(dinp), f32(dout), f32(out), n);
    case Backend::CudaRef:
    case Backend::CudaFast: return KEYNET_ON_CUDA(cuda::relu_backward(f32(dinp), f32(dout), f32(out), n));
    case Backend::Cudnn: return KEYNET_ON_CUDNN(cudnn::relu_backward(f32(dinp), f32(dout), f32(out), n));
  }
}

void add(Tensor& out, const Tensor& a, const Tensor& b, Impl impl) {
  check_pair(a, "the first operand", b, "second operand", "add");
  check_pair(a, "the first operand", out, "output", "add");
  const int64_t n = a.numel();
  switch (choose_backend(a, impl, "add", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::add(f64(out), f64(a), f64(b), n);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::ref::add(f32(out), f32(a), f32(b), n);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::add(f32(out), f32(a), f32(b), n));
  }
}

// ------------------------------------------------------------------------------------------ linear
void linear_forward(Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor* bias, Impl impl) {
  check_linear(inp, weight, bias, "linear_forward", "bias");
  const int N = inp.dim(0), I = inp.dim(1), O = weight.dim(0);
  expect_shape(out, {N, O}, inp, "linear_forward", "output");
  switch (choose_backend(inp, impl, "linear_forward", Library::Both)) {
    case Backend::CpuRefF64: return cpu::ref::linear_forward(f64(out), f64(inp), f64(weight), f64(bias), N, I, O);
    case Backend::CpuRef: return cpu::ref::linear_forward(f32(out), f32(inp), f32(weight), f32(bias), N, I, O);
    case Backend::CpuFast: return cpu::fast::linear_forward(f32(out), f32(inp), f32(weight), f32(bias), N, I, O);
    case Backend::CpuEigen: return cpu::eigen::linear_forward(f32(out), f32(inp), f32(weight), f32(bias), N, I, O);
    case Backend::CudaRef:
      return KEYNET_ON_CUDA(cuda::ref::linear_forward(f32(out), f32(inp), f32(weight), f32(bias), N, I, O));
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::fast::linear_forward(f32(out), f32(inp), f32(weight), f32(bias), N, I, O));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::linear_forward(f32(out), f32(inp), f32(weight), f32(bias), N, I, O));
  }
}

void linear_backward(Tensor* dinp, Tensor& dweight, Tensor* dbias, const Tensor& dout, const Tensor& inp,
                     const Tensor& weight, Impl impl) {
  check_linear(inp, weight, dbias, "linear_backward", "bias gradient");
  const int N = inp.dim(0), I = inp.dim(1), O = weight.dim(0);
  expect_shape(dout, {N, O}, inp, "linear_backward", "output gradient");
  expect_shape(dweight, weight.shape(), inp, "linear_backward", "weight gradient");
  if (dinp) expect_shape(*dinp, inp.shape(), inp, "linear_backward", "input gradient");
  switch (choose_backend(inp, impl, "linear_backward", Library::Both)) {
    case Backend::CpuRefF64:
      return cpu::ref::linear_backward(f64(dinp), f64(dweight), f64(dbias), f64(dout), f64(inp), f64(weight), N, I,
                                       O);
    case Backend::CpuRef:
      return cpu::ref::linear_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), N, I,
                                       O);
    case Backend::CpuFast:
      return cpu::fast::linear_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), N, I,
                                        O);
    case Backend::CpuEigen:
      return cpu::eigen::linear_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), N, I,
                                         O);
    case Backend::CudaRef:
      return KEYNET_ON_CUDA(cuda::ref::linear_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp),
                                                       f32(weight), N, I, O));
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::fast::linear_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp),
                                                        f32(weight), N, I, O));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(
          cudnn::linear_backward(f32(dinp), f32(dweight), f32(dbias), f32(dout), f32(inp), f32(weight), N, I, O));
  }
}

// ------------------------------------------------------------------------------------------ batch norm
void batch_norm2d_forward_train(Tensor& out, Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                                Tensor& running_var, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_forward_train";
  check_bn(inp, d, op);
  check_pair(inp, "the input", out, "output", op);
  check_channel_vectors(inp, {&save_mean, &save_invstd, &running_mean, &running_var, &gamma, &beta}, d.C, op);
  switch (choose_backend(inp, impl, op, Library::CudnnOnly)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_forward_train(f64(out), f64(save_mean), f64(save_invstd), f64(running_mean),
                                                  f64(running_var), f64(inp), f64(gamma), f64(beta), d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_forward_train(f32(out), f32(save_mean), f32(save_invstd), f32(running_mean),
                                                  f32(running_var), f32(inp), f32(gamma), f32(beta), d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_forward_train(f32(out), f32(save_mean), f32(save_invstd), f32(running_mean),
                                                   f32(running_var), f32(inp), f32(gamma), f32(beta), d);
    case Backend::CudaRef:
      return KEYNET_ON_CUDA(cuda::ref::batch_norm2d_forward_train(f32(out), f32(save_mean), f32(save_invstd),
                                                                  f32(running_mean), f32(running_var), f32(inp),
                                                                  f32(gamma), f32(beta), d));
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::fast::batch_norm2d_forward_train(f32(out), f32(save_mean), f32(save_invstd),
                                                                   f32(running_mean), f32(running_var), f32(inp),
                                                                   f32(gamma), f32(beta), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::batch_norm2d_forward_train(f32(out), f32(save_mean), f32(save_invstd),
                                                               f32(running_mean), f32(running_var), f32(inp),
                                                               f32(gamma), f32(beta), d));
  }
}

void batch_norm2d_forward_eval(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                               const Tensor& running_mean, const Tensor& running_var, const BatchNormDesc& d,
                               Impl impl) {
  const char* op = "batch_norm2d_forward_eval";
  check_bn(inp, d, op);
  check_pair(inp, "the input", out, "output", op);
  check_channel_vectors(inp, {&running_mean, &running_var, &gamma, &beta}, d.C, op);
  switch (choose_backend(inp, impl, op, Library::CudnnOnly)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_forward_eval(f64(out), f64(inp), f64(gamma), f64(beta), f64(running_mean),
                                                 f64(running_var), d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta), f32(running_mean),
                                                 f32(running_var), d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta), f32(running_mean),
                                                  f32(running_var), d);
    case Backend::CudaRef:  // elementwise with per-channel constants: the readable kernel is the fast one
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::batch_norm2d_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta),
                                                            f32(running_mean), f32(running_var), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::batch_norm2d_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta),
                                                              f32(running_mean), f32(running_var), d));
  }
}

void batch_norm2d_fold(Tensor& weight_out, Tensor& bias_out, const Tensor& weight, const Tensor* bias,
                       const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                       double eps) {
  const char* op = "batch_norm2d_fold";
  KEYNET_CHECK(weight.ndim() == 4, op, ": expected a convolution's weight (K,C,R,S), got ", to_string(weight.shape()));
  KEYNET_CHECK(std::isfinite(eps) && eps > 0, op, ": eps must be positive, got ", eps);
  const int K = static_cast<int>(weight.dim(0));
  const int64_t CRS = weight.numel() / K;
  check_pair(weight, "the weight", weight_out, "folded weight", op);
  expect_shape(bias_out, {K}, weight, op, "folded bias");
  if (bias) expect_shape(*bias, {K}, weight, op, "bias");
  for (const Tensor* v : {&gamma, &beta, &running_mean, &running_var})
    expect_shape(*v, {K}, weight, op, "batch norm's");
  // on the host: a device's tensors are copied there and the results back
  const auto host = [](const Tensor& t) { return t.to(Device::CPU); };
  const Tensor w = host(weight), g = host(gamma), b = host(beta), m = host(running_mean), v = host(running_var);
  const Tensor c = bias ? host(*bias) : Tensor();
  Tensor w_out = Tensor::empty(weight.shape(), Device::CPU, weight.dtype());
  Tensor b_out = Tensor::empty({K}, Device::CPU, weight.dtype());
  if (weight.dtype() == DType::F64)
    cpu::ref::batch_norm2d_fold(f64(w_out), f64(b_out), f64(w), bias ? f64(c) : nullptr, f64(g), f64(b), f64(m),
                                f64(v), eps, K, CRS);
  else
    cpu::ref::batch_norm2d_fold(f32(w_out), f32(b_out), f32(w), bias ? f32(c) : nullptr, f32(g), f32(b), f32(m),
                                f32(v), eps, K, CRS);
  weight_out.copy_from(w_out);
  bias_out.copy_from(b_out);
}

void batch_norm2d_backward(Tensor& dinp, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                           const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                           const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_backward";
  check_bn(inp, d, op);
  check_pair(inp, "the input", dout, "output gradient", op);
  check_pair(inp, "the input", dinp, "input gradient", op);
  check_channel_vectors(inp, {&dgamma, &dbeta, &gamma, &save_mean, &save_invstd}, d.C, op);
  switch (choose_backend(inp, impl, op, Library::CudnnOnly)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_backward(f64(dinp), f64(dgamma), f64(dbeta), f64(dout), f64(inp), f64(gamma),
                                             f64(save_mean), f64(save_invstd), d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout), f32(inp), f32(gamma),
                                             f32(save_mean), f32(save_invstd), d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout), f32(inp), f32(gamma),
                                              f32(save_mean), f32(save_invstd), d);
    case Backend::CudaRef:
      return KEYNET_ON_CUDA(cuda::ref::batch_norm2d_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout), f32(inp),
                                                             f32(gamma), f32(save_mean), f32(save_invstd), d));
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::fast::batch_norm2d_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout),
                                                              f32(inp), f32(gamma), f32(save_mean),
                                                              f32(save_invstd), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::batch_norm2d_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout), f32(inp),
                                                          f32(gamma), f32(save_mean), f32(save_invstd), d));
  }
}

// ------------------------------------------------------------------------------------------ batch norm + ReLU
void batch_norm2d_relu_forward_train(Tensor& out, Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                                     Tensor& running_var, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                     const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_relu_forward_train";
  check_bn(inp, d, op);
  check_pair(inp, "the input", out, "output", op);
  check_channel_vectors(inp, {&save_mean, &save_invstd, &running_mean, &running_var, &gamma, &beta}, d.C, op);
  switch (choose_backend(inp, impl, op, Library::CudnnOnly)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_relu_forward_train(f64(out), f64(save_mean), f64(save_invstd), f64(running_mean),
                                                       f64(running_var), f64(inp), f64(gamma), f64(beta), d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_relu_forward_train(f32(out), f32(save_mean), f32(save_invstd), f32(running_mean),
                                                       f32(running_var), f32(inp), f32(gamma), f32(beta), d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_relu_forward_train(f32(out), f32(save_mean), f32(save_invstd),
                                                        f32(running_mean), f32(running_var), f32(inp), f32(gamma),
                                                        f32(beta), d);
    case Backend::CudaRef:
      return KEYNET_ON_CUDA(cuda::ref::batch_norm2d_relu_forward_train(f32(out), f32(save_mean), f32(save_invstd),
                                                                       f32(running_mean), f32(running_var), f32(inp),
                                                                       f32(gamma), f32(beta), d));
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::fast::batch_norm2d_relu_forward_train(f32(out), f32(save_mean), f32(save_invstd),
                                                                        f32(running_mean), f32(running_var),
                                                                        f32(inp), f32(gamma), f32(beta), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::batch_norm2d_relu_forward_train(f32(out), f32(save_mean), f32(save_invstd),
                                                                    f32(running_mean), f32(running_var), f32(inp),
                                                                    f32(gamma), f32(beta), d));
  }
}

void batch_norm2d_relu_forward_eval(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                                    const Tensor& running_mean, const Tensor& running_var, const BatchNormDesc& d,
                                    Impl impl) {
  const char* op = "batch_norm2d_relu_forward_eval";
  check_bn(inp, d, op);
  check_pair(inp, "the input", out, "output", op);
  check_channel_vectors(inp, {&running_mean, &running_var, &gamma, &beta}, d.C, op);
  switch (choose_backend(inp, impl, op, Library::CudnnOnly)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_relu_forward_eval(f64(out), f64(inp), f64(gamma), f64(beta), f64(running_mean),
                                                      f64(running_var), d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_relu_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta), f32(running_mean),
                                                      f32(running_var), d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_relu_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta), f32(running_mean),
                                                       f32(running_var), d);
    case Backend::CudaRef:  // elementwise with per-channel constants: the readable kernel is the fast one
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::batch_norm2d_relu_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta),
                                                                 f32(running_mean), f32(running_var), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::batch_norm2d_relu_forward_eval(f32(out), f32(inp), f32(gamma), f32(beta),
                                                                   f32(running_mean), f32(running_var), d));
  }
}

void batch_norm2d_relu_backward(Tensor& dinp, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                                const Tensor& out, const Tensor& gamma, const Tensor& save_mean,
                                const Tensor& save_invstd, const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_relu_backward";
  check_bn(inp, d, op);
  check_pair(inp, "the input", dout, "output gradient", op);
  check_pair(inp, "the input", out, "output", op);
  check_pair(inp, "the input", dinp, "input gradient", op);
  check_channel_vectors(inp, {&dgamma, &dbeta, &gamma, &save_mean, &save_invstd}, d.C, op);
  switch (choose_backend(inp, impl, op, Library::CudnnOnly)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_relu_backward(f64(dinp), f64(dgamma), f64(dbeta), f64(dout), f64(inp), f64(out),
                                                  f64(gamma), f64(save_mean), f64(save_invstd), d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_relu_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout), f32(inp), f32(out),
                                                  f32(gamma), f32(save_mean), f32(save_invstd), d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_relu_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout), f32(inp),
                                                   f32(out), f32(gamma), f32(save_mean), f32(save_invstd), d);
    case Backend::CudaRef:
      return KEYNET_ON_CUDA(cuda::ref::batch_norm2d_relu_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout),
                                                                  f32(inp), f32(out), f32(gamma), f32(save_mean),
                                                                  f32(save_invstd), d));
    case Backend::CudaFast:
      return KEYNET_ON_CUDA(cuda::fast::batch_norm2d_relu_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout),
                                                                   f32(inp), f32(out), f32(gamma), f32(save_mean),
                                                                   f32(save_invstd), d));
    case Backend::Cudnn:
      return KEYNET_ON_CUDNN(cudnn::batch_norm2d_relu_backward(f32(dinp), f32(dgamma), f32(dbeta), f32(dout),
                                                               f32(inp), f32(out), f32(gamma), f32(save_mean),
                                                               f32(save_invstd), d));
  }
}

// ---- batch norm over ranks: cuDNN has no split statistics, so Vendor runs our kernels on both devices
namespace {
void check_sync_count(double count, const BatchNormDesc& d, const char* op) {
  KEYNET_CHECK(std::isfinite(count) && count >= static_cast<double>(d.N) * d.HW && count > 1, op, ": count ", count,
               " of values per channel over the ranks is less than this rank's ", static_cast<double>(d.N) * d.HW,
               " or not more than 1");
}
}  // namespace

void batch_norm2d_channel_sums(Tensor& sums, const Tensor& inp, const Tensor* total_sum, double count,
                               const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_channel_sums";
  check_bn(inp, d, op);
  check_channel_vectors(inp, {&sums}, d.C, op);
  if (total_sum) {
    check_channel_vectors(inp, {total_sum}, d.C, op);
    check_sync_count(count, d, op);
  }
  switch (choose_backend(inp, impl, op, Library::Neither)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_channel_sums(f64(sums), f64(inp), f64(total_sum), count, d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_channel_sums(f32(sums), f32(inp), f32(total_sum), count, d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_channel_sums(f32(sums), f32(inp), f32(total_sum), count, d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::batch_norm2d_channel_sums(f32(sums), f32(inp), f32(total_sum), count, d));
  }
}

void batch_norm2d_stats_from_sums(Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean, Tensor& running_var,
                                  const Tensor& total_sum, const Tensor& total_squares, double count,
                                  const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_stats_from_sums";
  check_channel_vectors(total_sum, {&save_mean, &save_invstd, &running_mean, &running_var, &total_sum, &total_squares},
                        d.C, op);
  check_sync_count(count, d, op);
  switch (choose_backend(total_sum, impl, op, Library::Neither)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_stats_from_sums(f64(save_mean), f64(save_invstd), f64(running_mean),
                                                    f64(running_var), f64(total_sum), f64(total_squares), count, d);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::ref::batch_norm2d_stats_from_sums(f32(save_mean), f32(save_invstd), f32(running_mean),
                                                    f32(running_var), f32(total_sum), f32(total_squares), count, d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::batch_norm2d_stats_from_sums(f32(save_mean), f32(save_invstd), f32(running_mean),
                                                               f32(running_var), f32(total_sum), f32(total_squares),
                                                               count, d));
  }
}

void batch_norm2d_normalize(Tensor& out, const Tensor& inp, const Tensor& gamma, const Tensor& beta,
                            const Tensor& save_mean, const Tensor& save_invstd, bool relu, const BatchNormDesc& d,
                            Impl impl) {
  const char* op = "batch_norm2d_normalize";
  check_bn(inp, d, op);
  check_pair(inp, "the input", out, "output", op);
  check_channel_vectors(inp, {&gamma, &beta, &save_mean, &save_invstd}, d.C, op);
  switch (choose_backend(inp, impl, op, Library::Neither)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_normalize(f64(out), f64(inp), f64(gamma), f64(beta), f64(save_mean),
                                              f64(save_invstd), relu, d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_normalize(f32(out), f32(inp), f32(gamma), f32(beta), f32(save_mean),
                                              f32(save_invstd), relu, d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_normalize(f32(out), f32(inp), f32(gamma), f32(beta), f32(save_mean),
                                               f32(save_invstd), relu, d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::batch_norm2d_normalize(f32(out), f32(inp), f32(gamma), f32(beta), f32(save_mean),
                                                         f32(save_invstd), relu, d));
  }
}

void batch_norm2d_backward_sums(Tensor& sums, Tensor& dgamma, Tensor& dbeta, const Tensor& dout, const Tensor& inp,
                                const Tensor* out, const Tensor& save_mean, const Tensor& save_invstd,
                                const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_backward_sums";
  check_bn(inp, d, op);
  check_pair(inp, "the input", dout, "output gradient", op);
  if (out) check_pair(inp, "the input", *out, "output", op);
  check_channel_vectors(inp, {&dgamma, &dbeta, &save_mean, &save_invstd}, d.C, op);
  expect_shape(sums, {2 * d.C}, inp, op, "sums");
  switch (choose_backend(inp, impl, op, Library::Neither)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_backward_sums(f64(sums), f64(dgamma), f64(dbeta), f64(dout), f64(inp), f64(out),
                                                  f64(save_mean), f64(save_invstd), d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_backward_sums(f32(sums), f32(dgamma), f32(dbeta), f32(dout), f32(inp), f32(out),
                                                  f32(save_mean), f32(save_invstd), d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_backward_sums(f32(sums), f32(dgamma), f32(dbeta), f32(dout), f32(inp), f32(out),
                                                   f32(save_mean), f32(save_invstd), d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::batch_norm2d_backward_sums(f32(sums), f32(dgamma), f32(dbeta), f32(dout), f32(inp),
                                                             f32(out), f32(save_mean), f32(save_invstd), d));
  }
}

void batch_norm2d_backward_apply(Tensor& dinp, const Tensor& dout, const Tensor& inp, const Tensor* out,
                                 const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                                 const Tensor& total_sums, double count, const BatchNormDesc& d, Impl impl) {
  const char* op = "batch_norm2d_backward_apply";
  check_bn(inp, d, op);
  check_pair(inp, "the input", dout, "output gradient", op);
  check_pair(inp, "the input", dinp, "input gradient", op);
  if (out) check_pair(inp, "the input", *out, "output", op);
  check_channel_vectors(inp, {&gamma, &save_mean, &save_invstd}, d.C, op);
  expect_shape(total_sums, {2 * d.C}, inp, op, "sums");
  check_sync_count(count, d, op);
  switch (choose_backend(inp, impl, op, Library::Neither)) {
    case Backend::CpuRefF64:
      return cpu::ref::batch_norm2d_backward_apply(f64(dinp), f64(dout), f64(inp), f64(out), f64(gamma),
                                                   f64(save_mean), f64(save_invstd), f64(total_sums), count, d);
    case Backend::CpuRef:
      return cpu::ref::batch_norm2d_backward_apply(f32(dinp), f32(dout), f32(inp), f32(out), f32(gamma),
                                                   f32(save_mean), f32(save_invstd), f32(total_sums), count, d);
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::fast::batch_norm2d_backward_apply(f32(dinp), f32(dout), f32(inp), f32(out), f32(gamma),
                                                    f32(save_mean), f32(save_invstd), f32(total_sums), count, d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::batch_norm2d_backward_apply(f32(dinp), f32(dout), f32(inp), f32(out), f32(gamma),
                                                              f32(save_mean), f32(save_invstd), f32(total_sums),
                                                              count, d));
  }
}

// ------------------------------------------------------------------------------------------ global avg pool
void global_avg_pool_forward(Tensor& out, const Tensor& inp, Impl impl) {
  KEYNET_CHECK(inp.ndim() == 4, "global_avg_pool_forward: expected input (N,C,H,W), got ", to_string(inp.shape()));
  expect_shape(out, {inp.dim(0), inp.dim(1)}, inp, "global_avg_pool_forward", "output");
  const int planes = inp.dim(0) * inp.dim(1), HW = inp.dim(2) * inp.dim(3);
  switch (choose_backend(inp, impl, "global_avg_pool_forward", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::global_avg_pool_forward(f64(out), f64(inp), planes, HW);
    case Backend::CpuRef: return cpu::ref::global_avg_pool_forward(f32(out), f32(inp), planes, HW);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::global_avg_pool_forward(f32(out), f32(inp), planes, HW);
    case Backend::CudaRef: return KEYNET_ON_CUDA(cuda::ref::global_avg_pool_forward(f32(out), f32(inp), planes, HW));
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::fast::global_avg_pool_forward(f32(out), f32(inp), planes, HW));
  }
}

void global_avg_pool_backward(Tensor& dinp, const Tensor& dout, Impl impl) {
  KEYNET_CHECK(dinp.ndim() == 4, "global_avg_pool_backward: expected input gradient (N,C,H,W), got ",
               to_string(dinp.shape()));
  expect_shape(dout, {dinp.dim(0), dinp.dim(1)}, dinp, "global_avg_pool_backward", "output gradient");
  const int planes = dinp.dim(0) * dinp.dim(1), HW = dinp.dim(2) * dinp.dim(3);
  switch (choose_backend(dinp, impl, "global_avg_pool_backward", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::global_avg_pool_backward(f64(dinp), f64(dout), planes, HW);
    case Backend::CpuRef: return cpu::ref::global_avg_pool_backward(f32(dinp), f32(dout), planes, HW);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::global_avg_pool_backward(f32(dinp), f32(dout), planes, HW);
    case Backend::CudaRef:  // a broadcast, nothing to reduce: one kernel serves both
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::global_avg_pool_backward(f32(dinp), f32(dout), planes, HW));
  }
}

// ------------------------------------------------------------------------------------------ upsampling
namespace {
void check_upsample(const UpsampleDesc& d, const char* op) {
  KEYNET_CHECK(d.N > 0 && d.C > 0 && d.H > 0 && d.W > 0 && d.scale > 0, op, ": invalid descriptor N=", d.N,
               " C=", d.C, " H=", d.H, " W=", d.W, " scale=", d.scale);
}
}  // namespace

// A copy and a block sum: one kernel per direction serves Ref and Fast, on the CPU (the reference
// template, threaded) and on CUDA; no vendor library has it.
void upsample_nearest2d_forward(Tensor& out, const Tensor& inp, const UpsampleDesc& d, Impl impl) {
  check_upsample(d, "upsample_nearest2d_forward");
  expect_shape(inp, {d.N, d.C, d.H, d.W}, inp, "upsample_nearest2d_forward", "input");
  expect_shape(out, {d.N, d.C, d.OH(), d.OW()}, inp, "upsample_nearest2d_forward", "output");
  switch (choose_backend(inp, impl, "upsample_nearest2d_forward", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::upsample_nearest2d_forward(f64(out), f64(inp), d);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::ref::upsample_nearest2d_forward(f32(out), f32(inp), d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::upsample_nearest2d_forward(f32(out), f32(inp), d));
  }
}

void upsample_nearest2d_backward(Tensor& dinp, const Tensor& dout, const UpsampleDesc& d, Impl impl) {
  check_upsample(d, "upsample_nearest2d_backward");
  expect_shape(dinp, {d.N, d.C, d.H, d.W}, dinp, "upsample_nearest2d_backward", "input gradient");
  expect_shape(dout, {d.N, d.C, d.OH(), d.OW()}, dinp, "upsample_nearest2d_backward", "output gradient");
  switch (choose_backend(dinp, impl, "upsample_nearest2d_backward", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::upsample_nearest2d_backward(f64(dinp), f64(dout), d);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::ref::upsample_nearest2d_backward(f32(dinp), f32(dout), d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::upsample_nearest2d_backward(f32(dinp), f32(dout), d));
  }
}

// ------------------------------------------------------------------------------------------ soft-argmax
namespace {
void check_soft_argmax(const SoftArgmaxDesc& d, const char* op) {
  KEYNET_CHECK(d.N > 0 && d.K > 0 && d.H > 0 && d.W > 0, op, ": invalid descriptor N=", d.N, " K=", d.K,
               " H=", d.H, " W=", d.W);
  // beta scales the scores before the max is subtracted: a negative one would turn it into a min
  KEYNET_CHECK(std::isfinite(d.beta) && d.beta > 0, op, ": beta must be positive and finite, got ", d.beta);
}
}  // namespace

void soft_argmax2d_forward(Tensor& out, Tensor& probs, const Tensor& inp, const SoftArgmaxDesc& d, Impl impl) {
  const char* op = "soft_argmax2d_forward";
  check_soft_argmax(d, op);
  expect_shape(inp, {d.N, d.K, d.H, d.W}, inp, op, "input");
  expect_shape(probs, {d.N, d.K, d.H, d.W}, inp, op, "probabilities");
  expect_shape(out, {d.N, 2 * d.K}, inp, op, "output");
  switch (choose_backend(inp, impl, op, Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::soft_argmax2d_forward(f64(out), f64(probs), f64(inp), d);
    case Backend::CpuRef: return cpu::ref::soft_argmax2d_forward(f32(out), f32(probs), f32(inp), d);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::soft_argmax2d_forward(f32(out), f32(probs), f32(inp), d);
    case Backend::CudaRef: return KEYNET_ON_CUDA(cuda::ref::soft_argmax2d_forward(f32(out), f32(probs), f32(inp), d));
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::fast::soft_argmax2d_forward(f32(out), f32(probs), f32(inp), d));
  }
}

// Elementwise once probs and the point are known: one kernel serves Ref and Fast, as for ReLU.
void soft_argmax2d_backward(Tensor& dinp, const Tensor& dout, const Tensor& probs, const Tensor& out,
                            const SoftArgmaxDesc& d, Impl impl) {
  const char* op = "soft_argmax2d_backward";
  check_soft_argmax(d, op);
  expect_shape(probs, {d.N, d.K, d.H, d.W}, probs, op, "probabilities");
  expect_shape(out, {d.N, 2 * d.K}, probs, op, "output");
  expect_shape(dout, {d.N, 2 * d.K}, probs, op, "output gradient");
  expect_shape(dinp, {d.N, d.K, d.H, d.W}, probs, op, "input gradient");
  switch (choose_backend(probs, impl, op, Library::Neither)) {
    case Backend::CpuRefF64:
      return cpu::ref::soft_argmax2d_backward(f64(dinp), f64(dout), f64(probs), f64(out), d);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen:
      return cpu::ref::soft_argmax2d_backward(f32(dinp), f32(dout), f32(probs), f32(out), d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::soft_argmax2d_backward(f32(dinp), f32(dout), f32(probs), f32(out), d));
  }
}

// ------------------------------------------------------------------------------------------ losses
namespace {
void check_loss(const Tensor& loss_or_grad, const Tensor& pred, const Tensor& target, const char* op, bool is_grad) {
  check_pair(pred, "the prediction", target, "target", op);
  KEYNET_CHECK(pred.numel() > 0, op, ": empty prediction");
  if (is_grad)
    check_pair(pred, "the prediction", loss_or_grad, "gradient", op);
  else
    expect_shape(loss_or_grad, {1}, pred, op, "loss");
}
}  // namespace

// On the CPU the loss is returned and stored here; the CUDA kernels write it to the device buffer.
void mse_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  check_loss(loss, pred, target, "mse_loss_forward", false);
  const int64_t n = pred.numel();
  switch (choose_backend(pred, impl, "mse_loss_forward", Library::Neither)) {
    case Backend::CpuRefF64: *f64(loss) = cpu::ref::mse_loss_forward(f64(pred), f64(target), n); return;
    case Backend::CpuRef: *f32(loss) = cpu::ref::mse_loss_forward(f32(pred), f32(target), n); return;
    case Backend::CpuFast:
    case Backend::CpuEigen: *f32(loss) = cpu::fast::mse_loss_forward(f32(pred), f32(target), n); return;
    case Backend::CudaRef: return KEYNET_ON_CUDA(cuda::ref::mse_loss_forward(f32(loss), f32(pred), f32(target), n));
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::fast::mse_loss_forward(f32(loss), f32(pred), f32(target), n));
  }
}

void mse_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  check_loss(dpred, pred, target, "mse_loss_backward", true);
  const int64_t n = pred.numel();
  const float dloss32 = static_cast<float>(dloss);
  switch (choose_backend(pred, impl, "mse_loss_backward", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::mse_loss_backward(f64(dpred), f64(pred), f64(target), dloss, n);
    case Backend::CpuRef: return cpu::ref::mse_loss_backward(f32(dpred), f32(pred), f32(target), dloss32, n);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::mse_loss_backward(f32(dpred), f32(pred), f32(target), dloss32, n);
    case Backend::CudaRef:  // elementwise: one kernel serves both
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::mse_loss_backward(f32(dpred), f32(pred), f32(target), dloss32, n));
  }
}

void l1_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, Impl impl) {
  check_loss(loss, pred, target, "l1_loss_forward", false);
  const int64_t n = pred.numel();
  switch (choose_backend(pred, impl, "l1_loss_forward", Library::Neither)) {
    case Backend::CpuRefF64: *f64(loss) = cpu::ref::l1_loss_forward(f64(pred), f64(target), n); return;
    case Backend::CpuRef: *f32(loss) = cpu::ref::l1_loss_forward(f32(pred), f32(target), n); return;
    case Backend::CpuFast:
    case Backend::CpuEigen: *f32(loss) = cpu::fast::l1_loss_forward(f32(pred), f32(target), n); return;
    case Backend::CudaRef: return KEYNET_ON_CUDA(cuda::ref::l1_loss_forward(f32(loss), f32(pred), f32(target), n));
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::fast::l1_loss_forward(f32(loss), f32(pred), f32(target), n));
  }
}

void l1_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, double dloss, Impl impl) {
  check_loss(dpred, pred, target, "l1_loss_backward", true);
  const int64_t n = pred.numel();
  const float dloss32 = static_cast<float>(dloss);
  switch (choose_backend(pred, impl, "l1_loss_backward", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::l1_loss_backward(f64(dpred), f64(pred), f64(target), dloss, n);
    case Backend::CpuRef: return cpu::ref::l1_loss_backward(f32(dpred), f32(pred), f32(target), dloss32, n);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::l1_loss_backward(f32(dpred), f32(pred), f32(target), dloss32, n);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::l1_loss_backward(f32(dpred), f32(pred), f32(target), dloss32, n));
  }
}

double WingDesc::c() const { return w - w * std::log1p(w / epsilon); }

namespace {
void check_wing(const WingDesc& d, const char* op) {
  KEYNET_CHECK(std::isfinite(d.w) && d.w > 0 && std::isfinite(d.epsilon) && d.epsilon > 0, op,
               ": w and epsilon must be positive and finite, got w=", d.w, " epsilon=", d.epsilon);
}
}  // namespace

void wing_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, const WingDesc& d, Impl impl) {
  check_loss(loss, pred, target, "wing_loss_forward", false);
  check_wing(d, "wing_loss_forward");
  const int64_t n = pred.numel();
  switch (choose_backend(pred, impl, "wing_loss_forward", Library::Neither)) {
    case Backend::CpuRefF64:
      *f64(loss) = cpu::ref::wing_loss_forward(f64(pred), f64(target), d.w, d.epsilon, d.c(), n);
      return;
    case Backend::CpuRef:
      *f32(loss) = cpu::ref::wing_loss_forward(f32(pred), f32(target), float(d.w), float(d.epsilon), float(d.c()), n);
      return;
    case Backend::CpuFast:
    case Backend::CpuEigen: *f32(loss) = cpu::fast::wing_loss_forward(f32(pred), f32(target), d, n); return;
    case Backend::CudaRef: return KEYNET_ON_CUDA(cuda::ref::wing_loss_forward(f32(loss), f32(pred), f32(target), d, n));
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::fast::wing_loss_forward(f32(loss), f32(pred), f32(target), d, n));
  }
}

void wing_loss_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, const WingDesc& d, double dloss,
                        Impl impl) {
  check_loss(dpred, pred, target, "wing_loss_backward", true);
  check_wing(d, "wing_loss_backward");
  const int64_t n = pred.numel();
  const float dloss32 = static_cast<float>(dloss);
  switch (choose_backend(pred, impl, "wing_loss_backward", Library::Neither)) {
    case Backend::CpuRefF64:
      return cpu::ref::wing_loss_backward(f64(dpred), f64(pred), f64(target), d.w, d.epsilon, dloss, n);
    case Backend::CpuRef:
      return cpu::ref::wing_loss_backward(f32(dpred), f32(pred), f32(target), float(d.w), float(d.epsilon), dloss32, n);
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::fast::wing_loss_backward(f32(dpred), f32(pred), f32(target), d, dloss32, n);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn:
      return KEYNET_ON_CUDA(cuda::wing_loss_backward(f32(dpred), f32(pred), f32(target), d, dloss32, n));
  }
}

// ------------------------------------------------------------------------------------------ optimizers
// Elementwise updates: one kernel serves Ref and Fast, on the CPU (the reference template) and on CUDA.
void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamDesc& d, Impl impl) {
  check_pair(param, "the parameter", grad, "gradient", "adam_update");
  check_pair(param, "the parameter", m, "first moment", "adam_update");
  check_pair(param, "the parameter", v, "second moment", "adam_update");
  KEYNET_CHECK(d.step >= 1, "adam_update: step counts from 1, got ", d.step);
  const int64_t n = param.numel();
  switch (choose_backend(param, impl, "adam_update", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::adam_update(f64(param), f64(grad), f64(m), f64(v), n, d);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::ref::adam_update(f32(param), f32(grad), f32(m), f32(v), n, d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::adam_update(f32(param), f32(grad), f32(m), f32(v), n, d));
  }
}

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdDesc& d, Impl impl) {
  check_pair(param, "the parameter", grad, "gradient", "sgd_update");
  check_pair(param, "the parameter", momentum_buffer, "momentum buffer", "sgd_update");
  const int64_t n = param.numel();
  switch (choose_backend(param, impl, "sgd_update", Library::Neither)) {
    case Backend::CpuRefF64: return cpu::ref::sgd_update(f64(param), f64(grad), f64(momentum_buffer), n, d);
    case Backend::CpuRef:
    case Backend::CpuFast:
    case Backend::CpuEigen: return cpu::ref::sgd_update(f32(param), f32(grad), f32(momentum_buffer), n, d);
    case Backend::CudaRef:
    case Backend::CudaFast:
    case Backend::Cudnn: return KEYNET_ON_CUDA(cuda::sgd_update(f32(param), f32(grad), f32(momentum_buffer), n, d));
  }
}

}  // namespace ops
}  // namespace keynet
