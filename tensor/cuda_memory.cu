// Device memory for Storage: cudaMalloc behind a small caching allocator. Freed blocks are kept in
// per-size free lists and handed out again, so a training loop allocates from the driver only in its
// first step.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

#include "tensor/cuda_memory.h"
#include "tensor/error.h"

namespace keynet::cuda_memory {

namespace {

void check(cudaError_t status, const char* call) {
  KEYNET_CHECK(status == cudaSuccess, "CUDA call ", call, " failed: ", cudaGetErrorString(status));
}

// Round up so that slightly different sizes share blocks.
std::size_t rounded(std::size_t bytes) {
  const std::size_t granule = bytes < (1 << 20) ? 512 : (1 << 20);
  return (bytes + granule - 1) / granule * granule;
}

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // size -> blocks
  std::size_t in_use = 0;
  std::size_t peak = 0;
  std::size_t cached = 0;

  // Frees every cached block; a cudaFree that fails (a sticky error from an earlier fault, say) is
  // reported here, after the rest have been freed, rather than lost.
  void release_cached() {
    cudaError_t first_failure = cudaSuccess;
    for (auto& [size, blocks] : free_blocks)
      for (void* p : blocks) {
        const cudaError_t status = cudaFree(p);
        if (status != cudaSuccess && first_failure == cudaSuccess) first_failure = status;
      }
    free_blocks.clear();
    cached = 0;
    check(first_failure, "cudaFree (releasing keynet's cache of device blocks)");
  }
};

Cache& cache() {
  static Cache* instance = new Cache();  // never destroyed: blocks outlive static destructors safely
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

void* allocate(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  const std::size_t size = rounded(bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto found = c.free_blocks.find(size);
  void* ptr = nullptr;
  if (found != c.free_blocks.end() && !found->second.empty()) {
    ptr = found->second.back();
    found->second.pop_back();
    c.cached -= size;
  } else {
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      c.release_cached();  // give the cache back to the driver and try once more
      status = cudaMalloc(&ptr, size);
    }
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      std::size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      KEYNET_FAIL("CUDA out of memory: asked for ", size / 1048576.0, " MiB, ", free_bytes / 1048576.0,
                  " MiB free of ", total_bytes / 1048576.0, " MiB (keynet holds ", c.in_use / 1048576.0,
                  " MiB); use a smaller batch");
    }
    check(status, "cudaMalloc");
  }
  c.in_use += size;
  if (c.in_use > c.peak) c.peak = c.in_use;
  return ptr;
}

void release(void* ptr, std::size_t bytes) {
  if (!ptr) return;
  if (bytes == 0) bytes = 1;
  const std::size_t size = rounded(bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.free_blocks[size].push_back(ptr);
  c.cached += size;
  c.in_use -= size;
}

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

void release_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_cached();
}

// The statistics change under the lock in allocate and release, so they are read under it too.
std::size_t bytes_in_use() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.in_use;
}
std::size_t peak_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.peak;
}
void reset_peak() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.peak = c.in_use;
}
void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace keynet::cuda_memory
