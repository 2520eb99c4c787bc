// Batch normalisation through cuDNN, spatial mode (per-channel statistics over N, H, W). cuDNN's
// semantics are PyTorch's (PyTorch calls these very functions): normalisation with the biased batch
// variance, running variance updated with the unbiased one, exponentialAverageFactor = momentum, and
// the saved "inverse variance" is 1/sqrt(var + eps), our save_invstd.
#include "kernels/cudnn/cudnn.h"
#include "kernels/cudnn/common.h"

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

}  // namespace keynet::cudnn
