// Batch normalisation through cuDNN, spatial mode (per-channel statistics over N, H, W). cuDNN's
// semantics are PyTorch's (PyTorch calls these very functions): normalisation with the biased batch
// variance, running variance updated with the unbiased one, exponentialAverageFactor = momentum, and
// the saved "inverse variance" is 1/sqrt(var + eps), our save_invstd.
//
// Batch norm then ReLU (batch_norm2d_relu_*) is cuDNN's batch norm followed by cuDNN's ReLU, not one
// cuDNN call: cudnnBatchNormalizationForwardTrainingEx has a fused mode (CUDNN_BATCHNORM_OPS_BN_ACTIVATION,
// with a matching cudnnBatchNormalizationBackwardEx), but cuDNN documents it for NHWC half-precision
// tensors in CUDNN_BATCHNORM_SPATIAL_PERSISTENT mode only, and our tensors are NCHW float32 (it was not
// tried on NCHW float here: the development machine has no GPU). The composition runs the ReLU in place
// on the output, and its backward writes the masked gradient to a scratch tensor that batch norm's
// backward reads: one extra pass over the output each way that the handwritten kernels (cuda::ref,
// cuda::fast) do not make.
#include "kernels/cudnn/cudnn.h"
#include "kernels/cudnn/common.h"
#include "tensor/tensor.h"

namespace keynet::cudnn {

namespace {

// (N, C, HW, 1) for the data and the derived (1, C, 1, 1) for the per-channel vectors.
struct BatchNormDescriptors {
  explicit BatchNormDescriptors(const ops::BatchNormDesc& d) : x(d.N, d.C, d.HW, 1) {
    KEYNET_CHECK(d.eps >= CUDNN_BN_MIN_EPSILON, "cuDNN batch norm needs eps >= ", CUDNN_BN_MIN_EPSILON, ", got ",
                 d.eps, "; use impl=fast");
    KEYNET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&channel));
    KEYNET_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(channel, x.get(), CUDNN_BATCHNORM_SPATIAL));
  }
  ~BatchNormDescriptors() { cudnnDestroyTensorDescriptor(channel); }
  BatchNormDescriptors(const BatchNormDescriptors&) = delete;
  BatchNormDescriptors& operator=(const BatchNormDescriptors&) = delete;

  TensorDescriptor x;
  cudnnTensorDescriptor_t channel = nullptr;
};

// out = relu(out), in place (cudnnActivationForward allows x == y)
void relu_in_place(float* out, const BatchNormDescriptors& desc) {
  const ReluDescriptor relu;
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnActivationForward(cudnn_handle(), relu.get(), &one, desc.x.get(), out, &zero,
                                                   desc.x.get(), out));
}

}  // namespace

void batch_norm2d_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                float* running_var, const float* inp, const float* gamma, const float* beta,
                                const ops::BatchNormDesc& d) {
  const BatchNormDescriptors desc(d);
  const float one = 1.0f, zero = 0.0f;
  // Not retried after out of memory: it updates the running statistics, which a second run would move twice.
  KEYNET_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, desc.x.get(), inp, desc.x.get(), out, desc.channel, gamma,
      beta, d.momentum, running_mean, running_var, d.eps, save_mean, save_invstd));
}

void batch_norm2d_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, const ops::BatchNormDesc& d) {
  const BatchNormDescriptors desc(d);
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnBatchNormalizationForwardInference(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one,
                                                                    &zero, desc.x.get(), inp, desc.x.get(), out,
                                                                    desc.channel, gamma, beta, running_mean,
                                                                    running_var, d.eps));
}

// dinp overwritten (alphaDataDiff 1, betaDataDiff 0); dgamma, dbeta accumulated (betaParamDiff 1), so never
// retried after out of memory
void batch_norm2d_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                           const float* gamma, const float* save_mean, const float* save_invstd,
                           const ops::BatchNormDesc& d) {
  const BatchNormDescriptors desc(d);
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &one,
                                                     desc.x.get(), inp, desc.x.get(), dout, desc.x.get(), dinp,
                                                     desc.channel, gamma, dgamma, dbeta, d.eps, save_mean,
                                                     save_invstd));
}

// ---- batch norm + ReLU, composed (see the top of this file)
void batch_norm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const float* inp, const float* gamma, const float* beta,
                                     const ops::BatchNormDesc& d) {
  batch_norm2d_forward_train(out, save_mean, save_invstd, running_mean, running_var, inp, gamma, beta, d);
  relu_in_place(out, BatchNormDescriptors(d));
}

void batch_norm2d_relu_forward_eval(float* out, const float* inp, const float* gamma, const float* beta,
                                    const float* running_mean, const float* running_var,
                                    const ops::BatchNormDesc& d) {
  batch_norm2d_forward_eval(out, inp, gamma, beta, running_mean, running_var, d);
  relu_in_place(out, BatchNormDescriptors(d));
}

// The ReLU's backward gets out for both its y and x (out > 0 exactly where batch norm's output is, and NaN
// where it is NaN), as cudnn/activation.cpp's relu_backward; its result goes to a scratch tensor.
void batch_norm2d_relu_backward(float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp,
                                const float* out, const float* gamma, const float* save_mean,
                                const float* save_invstd, const ops::BatchNormDesc& d) {
  const BatchNormDescriptors desc(d);
  const ReluDescriptor relu;
  Tensor masked = Tensor::empty({static_cast<int64_t>(d.N) * d.C * d.HW}, Device::CUDA);
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnActivationBackward(cudnn_handle(), relu.get(), &one, desc.x.get(), out, desc.x.get(),
                                                    dout, desc.x.get(), out, &zero, desc.x.get(),
                                                    masked.data<float>()));
  batch_norm2d_backward(dinp, dgamma, dbeta, masked.data<float>(), inp, gamma, save_mean, save_invstd, d);
}

}  // namespace keynet::cudnn
