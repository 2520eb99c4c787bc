// Device memory for Storage: cudaMalloc behind keynet's caching allocator (tensor/block_cache.h: segments
// cut into blocks and freed blocks merged and handed out again, so a training loop allocates from the
// driver only in its first steps).
#include <cuda_runtime.h>

#include <string>

#include "tensor/block_cache.h"
#include "tensor/cuda_memory.h"
#include "tensor/error.h"

namespace keynet::cuda_memory {

namespace {

void check(cudaError_t status, const char* call) {
  KEYNET_CHECK(status == cudaSuccess, "CUDA call ", call, " failed: ", cudaGetErrorString(status));
}

// cudaMalloc and cudaFree behind the cache's logic (tensor/block_cache.h).
class CudaSource : public BlockSource {
 public:
  void* allocate(std::size_t bytes) override {
    void* block = nullptr;
    const cudaError_t status = cudaMalloc(&block, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it, so that the next launch does not report it
      return nullptr;
    }
    check(status, "cudaMalloc");
    return block;
  }
  std::string free(void* block) noexcept override {
    const cudaError_t status = cudaFree(block);
    return status == cudaSuccess ? "" : std::string("cudaFree: ") + cudaGetErrorString(status);
  }
  bool memory_info(std::size_t& free_bytes, std::size_t& total_bytes) noexcept override {
    return cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
  }
  const char* name() const override { return "CUDA"; }
};

BlockCache& cache() {
  // Neither is ever destroyed: blocks outlive static destructors.
  static BlockCache* instance = new BlockCache(*new CudaSource());
  return *instance;
}

}  // namespace

bool device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::string device_query_failure() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaSuccess || status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver) return "";
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

void* allocate(std::size_t bytes) { return cache().allocate(bytes); }
void release(void* ptr) { cache().release(ptr); }
void fail_next_allocations(int count) { cache().fail_next_allocations(count); }

void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  if (bytes == 0) return;
  cudaMemcpyKind kind = cudaMemcpyDefault;
  if (dst_device == Device::CUDA && src_device == Device::CPU) kind = cudaMemcpyHostToDevice;
  if (dst_device == Device::CPU && src_device == Device::CUDA) kind = cudaMemcpyDeviceToHost;
  if (dst_device == Device::CUDA && src_device == Device::CUDA) kind = cudaMemcpyDeviceToDevice;
  if (dst_device == Device::CPU && src_device == Device::CPU) kind = cudaMemcpyHostToHost;
  check(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
}

void set_zero(void* ptr, std::size_t bytes) { check(cudaMemset(ptr, 0, bytes), "cudaMemset"); }

void release_cache() { cache().release_cached(); }
std::size_t bytes_in_use() { return cache().in_use(); }
std::size_t peak_bytes() { return cache().peak(); }
void reset_peak() { cache().reset_peak(); }
void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace keynet::cuda_memory
