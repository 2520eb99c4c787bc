// Internal to kernels/cudnn: handles, error checks that name the failing call, and the settings
// read from the environment once.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include "tensor/cuda_memory.h"
#include "tensor/error.h"

namespace keynet::cudnn {

// A call that runs out of device memory for its own workspace is retried once after keynet's cache
// of free blocks has gone back to the driver (the cache may hold what the library needs).
bool cudnn_out_of_memory(cudnnStatus_t status);
bool cublas_out_of_memory(cublasStatus_t status);

#define KEYNET_CUDNN_CHECK(call)                                                                       \
  do {                                                                                                 \
    cudnnStatus_t keynet_status_ = (call);                                                             \
    if (::keynet::cudnn::cudnn_out_of_memory(keynet_status_)) {                                        \
      ::keynet::cuda_memory::release_cache();                                                          \
      keynet_status_ = (call);                                                                         \
    }                                                                                                  \
    KEYNET_CHECK(keynet_status_ == CUDNN_STATUS_SUCCESS, #call " failed: ", cudnnGetErrorString(keynet_status_)); \
  } while (0)

#define KEYNET_CUBLAS_CHECK(call)                                                                      \
  do {                                                                                                 \
    cublasStatus_t keynet_status_ = (call);                                                            \
    if (::keynet::cudnn::cublas_out_of_memory(keynet_status_)) {                                       \
      ::keynet::cuda_memory::release_cache();                                                          \
      keynet_status_ = (call);                                                                         \
    }                                                                                                  \
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
