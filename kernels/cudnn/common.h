// Internal to kernels/cudnn: handles, error checks that name the failing call, and the settings
// read from the environment once.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include <string>

#include "kernels/cudnn/retry.h"
#include "tensor/cuda_memory.h"
#include "tensor/error.h"

namespace keynet::cudnn {

bool cudnn_out_of_memory(cudnnStatus_t status);
bool cublas_out_of_memory(cublasStatus_t status);

// One try: every call that adds into its output or updates state, and every call that cannot run out
// of memory.
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

// A call that ran out of device memory for its own workspace runs once more after keynet's cache of
// free blocks has gone back to the driver (the cache may hold what the library needs), but only when
// `beta` (the call's own beta, const float*) is zero or null for a call that writes no tensor: see
// kernels/cudnn/retry.h.
#define KEYNET_CUDNN_RETRY(beta, call)                                                                 \
  do {                                                                                                 \
    std::string keynet_note_;                                                                          \
    const cudnnStatus_t keynet_status_ = ::keynet::cudnn::retry_out_of_memory<cudnnStatus_t>(          \
        (beta), [&] { return (call); }, ::keynet::cudnn::cudnn_out_of_memory,                          \
        ::keynet::cuda_memory::release_cache, keynet_note_);                                           \
    KEYNET_CHECK(keynet_status_ == CUDNN_STATUS_SUCCESS, #call " failed: ", cudnnGetErrorString(keynet_status_), \
                 keynet_note_);                                                                        \
  } while (0)

#define KEYNET_CUBLAS_RETRY(beta, call)                                                                \
  do {                                                                                                 \
    std::string keynet_note_;                                                                          \
    const cublasStatus_t keynet_status_ = ::keynet::cudnn::retry_out_of_memory<cublasStatus_t>(        \
        (beta), [&] { return (call); }, ::keynet::cudnn::cublas_out_of_memory,                         \
        ::keynet::cuda_memory::release_cache, keynet_note_);                                           \
    KEYNET_CHECK(keynet_status_ == CUBLAS_STATUS_SUCCESS, #call " failed: ", cublasGetStatusName(keynet_status_), \
                 " (", cublasGetStatusString(keynet_status_), ")", keynet_note_);                      \
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

// A ReLU activation descriptor that propagates NaN (as PyTorch's ReLU does), destroying itself.
class ReluDescriptor {
 public:
  ReluDescriptor() {
    KEYNET_CUDNN_CHECK(cudnnCreateActivationDescriptor(&desc_));
    KEYNET_CUDNN_CHECK(cudnnSetActivationDescriptor(desc_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  }
  ~ReluDescriptor() { cudnnDestroyActivationDescriptor(desc_); }
  ReluDescriptor(const ReluDescriptor&) = delete;
  ReluDescriptor& operator=(const ReluDescriptor&) = delete;
  cudnnActivationDescriptor_t get() const { return desc_; }

 private:
  cudnnActivationDescriptor_t desc_ = nullptr;
};

}  // namespace keynet::cudnn
