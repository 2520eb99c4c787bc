// cuDNN and cuBLAS handles (created on first use, kept for the life of the process), the
// environment switches of the cuDNN/cuBLAS path, and describe().
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "kernels/cudnn/cudnn.h"
#include "kernels/cudnn/common.h"

namespace keynet::cudnn {

namespace {
bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value && std::strcmp(value, "1") == 0;
}
}  // namespace

bool cudnn_out_of_memory(cudnnStatus_t status) {
  return status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ||
         status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
}
bool cublas_out_of_memory(cublasStatus_t status) { return status == CUBLAS_STATUS_ALLOC_FAILED; }

bool allow_tf32() {
  static const bool value = env_flag("KEYNET_ALLOW_TF32");
  return value;
}
bool cudnn_benchmark() {
  static const bool value = env_flag("KEYNET_CUDNN_BENCHMARK");
  return value;
}
bool cudnn_nondeterministic() {
  static const bool value = env_flag("KEYNET_CUDNN_NONDETERMINISTIC");
  return value;
}

// Never destroyed: other static destructors may still run GPU work at exit.
cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h = nullptr;
    KEYNET_CUDNN_RETRY(nullptr, cudnnCreate(&h));
    return h;
  }();
  return handle;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    KEYNET_CUBLAS_RETRY(nullptr, cublasCreate(&h));
    KEYNET_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    return h;
  }();
  return handle;
}

TensorDescriptor::TensorDescriptor(int n, int c, int h, int w) {
  KEYNET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
  KEYNET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
}
TensorDescriptor::~TensorDescriptor() { cudnnDestroyTensorDescriptor(desc_); }

std::string describe() {
  const size_t cudnn = cudnnGetVersion();
  int cublas = 0;
  KEYNET_CUBLAS_CHECK(cublasGetVersion(cublas_handle(), &cublas));
  return "cuDNN " + std::to_string(cudnn / 10000) + "." + std::to_string(cudnn / 100 % 100) + "." +
         std::to_string(cudnn % 100) + ", cuBLAS " + std::to_string(cublas / 10000) + "." +
         std::to_string(cublas / 100 % 100) + "." + std::to_string(cublas % 100) + "; conv algorithms: " +
         (cudnn_benchmark() ? "timed (cudnnFind)" : "heuristic (cudnnGet_v7)") + ", " +
         (cudnn_nondeterministic() ? "nondeterministic allowed" : "deterministic only") + "; TF32 " +
         (allow_tf32() ? "on" : "off");
}

}  // namespace keynet::cudnn
