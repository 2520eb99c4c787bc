// Convolution through cuDNN: forward, data gradient, filter gradient, bias gradient. One plan per
// shape (descriptors plus the chosen algorithm of each direction), made on first use and kept.
// Workspace comes from keynet's caching allocator (a scratch Tensor), so it is reused step to step.
#include <array>
#include <cstddef>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>

#include "kernels/cudnn/cudnn.h"
#include "kernels/cudnn/common.h"
#include "tensor/tensor.h"

namespace keynet::cudnn {

namespace {

constexpr std::size_t kMaxWorkspace = std::size_t(1) << 30;  // algorithms wanting more are skipped

struct ConvPlan {
  ConvPlan(const ops::ConvDesc& d)
      : x(d.N, d.C, d.H, d.W), y(d.N, d.K, d.P(), d.Q()), bias(1, d.K, 1, 1) {
    KEYNET_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    KEYNET_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d.K, d.C, d.R, d.S));
    KEYNET_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    KEYNET_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, d.pad, d.pad, d.stride, d.stride, 1, 1,
                                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    KEYNET_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    int n = 0, c = 0, h = 0, wd = 0;
    KEYNET_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x.get(), w, &n, &c, &h, &wd));
    KEYNET_CHECK(n == d.N && c == d.K && h == d.P() && wd == d.Q(), "cuDNN computes output ", n, "x", c, "x", h, "x",
                 wd, " for a convolution keynet sizes ", d.N, "x", d.K, "x", d.P(), "x", d.Q());
  }
  ~ConvPlan() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
  }
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;

  TensorDescriptor x, y, bias;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t forward_algo{};
  cudnnConvolutionBwdDataAlgo_t data_algo{};
  cudnnConvolutionBwdFilterAlgo_t filter_algo{};
  std::size_t forward_bytes = 0, data_bytes = 0, filter_bytes = 0;
};

// The first acceptable candidate; cuDNN lists them best first (by heuristic or by measured time).
template <class Perf>
const Perf& pick(const Perf* perfs, int count, const char* direction, const ops::ConvDesc& d) {
  for (int i = 0; i < count; ++i) {
    const Perf& p = perfs[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > kMaxWorkspace) continue;
    if (p.determinism != CUDNN_DETERMINISTIC && !cudnn_nondeterministic()) continue;
    return p;
  }
  KEYNET_FAIL("cuDNN offers no ", cudnn_nondeterministic() ? "" : "deterministic ", direction,
              " algorithm within ", kMaxWorkspace >> 20, " MiB of workspace for conv N=", d.N, " C=", d.C, " H=", d.H,
              " W=", d.W, " K=", d.K, " R=", d.R, " S=", d.S, " stride=", d.stride, " pad=", d.pad,
              " (KEYNET_CUDNN_NONDETERMINISTIC=1 allows more; or use impl=fast)");
}

void choose_algorithms(ConvPlan& plan, const ops::ConvDesc& d) {
  cudnnHandle_t h = cudnn_handle();
  int count = 0;
  {
    std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perfs{};
    if (cudnn_benchmark())
      KEYNET_CUDNN_RETRY(nullptr, cudnnFindConvolutionForwardAlgorithm(h, plan.x.get(), plan.w, plan.conv, plan.y.get(),
                                                              perfs.size(), &count, perfs.data()));
    else
      KEYNET_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x.get(), plan.w, plan.conv, plan.y.get(),
                                                                perfs.size(), &count, perfs.data()));
    const auto& best = pick(perfs.data(), count, "forward", d);
    plan.forward_algo = best.algo;
    KEYNET_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, plan.x.get(), plan.w, plan.conv, plan.y.get(),
                                                               best.algo, &plan.forward_bytes));
  }
  {
    std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perfs{};
    if (cudnn_benchmark())
      KEYNET_CUDNN_RETRY(nullptr, cudnnFindConvolutionBackwardDataAlgorithm(h, plan.w, plan.y.get(), plan.conv, plan.x.get(),
                                                                   perfs.size(), &count, perfs.data()));
    else
      KEYNET_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w, plan.y.get(), plan.conv, plan.x.get(),
                                                                     perfs.size(), &count, perfs.data()));
    const auto& best = pick(perfs.data(), count, "backward-data", d);
    plan.data_algo = best.algo;
    KEYNET_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w, plan.y.get(), plan.conv, plan.x.get(),
                                                                    best.algo, &plan.data_bytes));
  }
  {
    std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> perfs{};
    if (cudnn_benchmark())
      KEYNET_CUDNN_RETRY(nullptr, cudnnFindConvolutionBackwardFilterAlgorithm(h, plan.x.get(), plan.y.get(), plan.conv,
                                                                     plan.w, perfs.size(), &count, perfs.data()));
    else
      KEYNET_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan.x.get(), plan.y.get(), plan.conv,
                                                                       plan.w, perfs.size(), &count, perfs.data()));
    const auto& best = pick(perfs.data(), count, "backward-filter", d);
    plan.filter_algo = best.algo;
    KEYNET_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, plan.x.get(), plan.y.get(), plan.conv,
                                                                      plan.w, best.algo, &plan.filter_bytes));
  }
}

ConvPlan& plan_for(const ops::ConvDesc& d) {
  static std::mutex mutex;
  static std::map<std::array<int, 9>, std::unique_ptr<ConvPlan>> plans;
  const std::array<int, 9> key{d.N, d.C, d.H, d.W, d.K, d.R, d.S, d.stride, d.pad};
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = plans[key];
  if (!slot) {
    auto plan = std::make_unique<ConvPlan>(d);
    choose_algorithms(*plan, d);
    if (std::getenv("KEYNET_CUDNN_VERBOSE"))
      std::cerr << "keynet: cuDNN conv N=" << d.N << " C=" << d.C << " H=" << d.H << " W=" << d.W << " K=" << d.K
                << " R=" << d.R << " stride=" << d.stride << " pad=" << d.pad << ": forward algo "
                << plan->forward_algo << " (" << plan->forward_bytes << " B), data algo " << plan->data_algo << " ("
                << plan->data_bytes << " B), filter algo " << plan->filter_algo << " (" << plan->filter_bytes
                << " B)\n";
    slot = std::move(plan);
  }
  return *slot;
}

// Scratch device memory for a workspace, from the caching allocator; empty when none is needed.
Tensor workspace(std::size_t bytes) {
  if (bytes == 0) return Tensor();
  return Tensor::empty({static_cast<int64_t>((bytes + 3) / 4)}, Device::CUDA);
}
void* pointer(Tensor& t) { return t.defined() ? t.raw() : nullptr; }

}  // namespace

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ops::ConvDesc& d) {
  ConvPlan& plan = plan_for(d);
  Tensor scratch = workspace(plan.forward_bytes);
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnConvolutionForward(cudnn_handle(), &one, plan.x.get(), inp, plan.w, weight, plan.conv,
                                             plan.forward_algo, pointer(scratch), plan.forward_bytes, &zero,
                                             plan.y.get(), out));
  if (bias) KEYNET_CUDNN_CHECK(cudnnAddTensor(cudnn_handle(), &one, plan.bias.get(), bias, &one, plan.y.get(), out));
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::ConvDesc& d) {
  ConvPlan& plan = plan_for(d);
  const float one = 1.0f, zero = 0.0f;
  if (dinp) {
    Tensor scratch = workspace(plan.data_bytes);
    KEYNET_CUDNN_RETRY(&zero, cudnnConvolutionBackwardData(cudnn_handle(), &one, plan.w, weight, plan.y.get(), dout,
                                                    plan.conv, plan.data_algo, pointer(scratch), plan.data_bytes,
                                                    &zero, plan.x.get(), dinp));
  }
  {  // the filter and bias gradients add into dweight and dbias: never retried after out of memory
    Tensor scratch = workspace(plan.filter_bytes);
    KEYNET_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn_handle(), &one, plan.x.get(), inp, plan.y.get(), dout,
                                                      plan.conv, plan.filter_algo, pointer(scratch),
                                                      plan.filter_bytes, &one, plan.w, dweight));
  }
  if (dbias)
    KEYNET_CUDNN_CHECK(
        cudnnConvolutionBackwardBias(cudnn_handle(), &one, plan.y.get(), dout, &one, plan.bias.get(), dbias));
}

}  // namespace keynet::cudnn
