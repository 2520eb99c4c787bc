// Shared plumbing of the handwritten CUDA kernels: error checks that name the failing call, launch
// geometry, and the deterministic block reduction used by every sum over many elements.
#pragma once
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "tensor/error.h"

namespace keynet::cuda {

// KEYNET_CUDA_CHECK(cudaMemsetAsync(...)) throws "cudaMemsetAsync(...) failed: <reason>".
#define KEYNET_CUDA_CHECK(call)                                                                   \
  do {                                                                                            \
    const cudaError_t keynet_status_ = (call);                                                    \
    KEYNET_CHECK(keynet_status_ == cudaSuccess, #call " failed: ", cudaGetErrorName(keynet_status_), \
                 " (", cudaGetErrorString(keynet_status_), ")");                                  \
  } while (0)

// After a kernel launch: reports bad launch configurations at once (asynchronous faults surface at
// the next synchronising call, which checks too).
#define KEYNET_CUDA_LAUNCHED(kernel_name)                                                          \
  do {                                                                                            \
    const cudaError_t keynet_status_ = cudaGetLastError();                                        \
    KEYNET_CHECK(keynet_status_ == cudaSuccess, "launch of CUDA kernel ", kernel_name, " failed: ", \
                 cudaGetErrorName(keynet_status_), " (", cudaGetErrorString(keynet_status_), ")"); \
  } while (0)

constexpr int kThreads = 256;

// The conv and linear kernels (GEMM-based and reference) index elements with 32-bit ints, which keeps
// their address arithmetic cheap; a tensor past that range is refused before anything is launched.
inline void check_int_indexable(const char* op, const char* tensor, int64_t elements) {
  KEYNET_CHECK(elements <= INT32_MAX, op, ": the ", tensor, " has ", elements,
               " elements, more than keynet's CUDA kernels can index (2^31 - 1); use a smaller batch");
}

// gridDim.y and gridDim.z are at most 65,535 on every CUDA device.
constexpr int kMaxGridY = 65535;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > (1 << 30) ? (1 << 30) : blocks));
}

// Streaming multiprocessors of the current device (cached): sizes grids that should fill the GPU.
int multiprocessor_count();

// Sum of one value per thread over the whole block, in a fixed order (warp shuffles, then warp
// partials in shared memory), so the result is bitwise repeatable. blockDim.x must be a multiple of
// 32 and at most 1024. Every thread of the block must call it; thread 0 gets the total.
template <class T>
__device__ T block_sum(T value) {
  __shared__ T warp_sums[32];
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xffffffffu, value, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  T total = T(0);
  if (threadIdx.x < 32) {
    const int warps = blockDim.x / 32;
    total = lane < warps ? warp_sums[lane] : T(0);
    for (int offset = 16; offset > 0; offset >>= 1) total += __shfl_down_sync(0xffffffffu, total, offset);
  }
  return total;
}

}  // namespace keynet::cuda
