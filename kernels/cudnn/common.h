// Internal to kernels/cudnn: handles, error checks that name the failing call, and the settings
// read from the environment once.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include "tensor/error.h"

namespace keynet::cudnn {

#define KEYNET_CUDNN_CHECK(call)                                                                       \
  do {                                                                                                 \
    const cudnnStatus_t keynet_status_ = (call);                                                       \
    KEYNET_CHECK(keynet_status_ == CUDNN_STATUS_SUCCESS, #call " failed: ", cudnnGetErrorString(keynet_status_)); \
  } while (0)

#define KEYNET_CUBLAS_CHECK(call)                                                                      \
  do {                                                                                                 \
    const cublasStatus_t keynet_status_ = (call);                                                      \
    KEYNET_CHECK(keynet_status_ == CUBLAS_STATUS_SUCCESS, #call " failed: ", cublasGetStatusName(keynet_status_), \
                 " (", cublasGetStatusString(keynet_status_), ")");                                    \
  } while (0)

cudnnHandle_t cudnn_handle();
cublasHandle_t cublas_handle();

bool allow_tf32();               // KEYNET_ALLOW_TF32=1
bool cudnn_benchmark();          // KEYNET_CUDNN_BENCHMARK=1: time the algorithms (cudnnFind*)
bool cudnn_nondeterministic();   // KEYNET_CUDNN_NONDETERMINISTIC=1: allow algorithms that use atomics

// A 4-D float NCHW tensor descriptor that destroys itself.
class TensorDescriptor {
 public:
  TensorDescriptor(int n, int c, int h, int w);
  ~TensorDescriptor();
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

}  // namespace keynet::cudnn
