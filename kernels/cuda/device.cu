// What the handwritten kernels ask of the device: its multiprocessor count, to size grids that fill it.
#include <cuda_runtime.h>

#include "kernels/cuda/common.cuh"

namespace keynet::cuda {

int multiprocessor_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    KEYNET_CUDA_CHECK(cudaGetDevice(&device));
    KEYNET_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }();
  return count;
}

}  // namespace keynet::cuda
