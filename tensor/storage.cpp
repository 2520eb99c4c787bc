#include "tensor/storage.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/cuda_memory.h"
#include "tensor/error.h"

namespace keynet {

namespace {

constexpr std::size_t kHostAlignment = 64;  // one cache line, one AVX-512 register
// Large host blocks are cached when freed: glibc returns big blocks to the kernel at once, and a
// training step that allocates the same activations again would pay a page fault per 4 KiB (about
// 100k faults per ResNet18 step at batch 16). Small blocks stay with malloc, which reuses them itself.
constexpr std::size_t kCachedMinimum = 64 * 1024;
constexpr std::size_t kCacheLimit = std::size_t(4) << 30;

std::size_t host_block_size(std::size_t bytes) {
  const std::size_t granule = bytes >= kCachedMinimum ? 4096 : kHostAlignment;
  return std::max<std::size_t>(granule, (bytes + granule - 1) / granule * granule);
}

struct HostCache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;  // size -> blocks
  std::size_t cached_bytes = 0;
};

HostCache& host_cache() {
  static HostCache* cache = new HostCache();  // never destroyed: storages may outlive static destructors
  return *cache;
}

void* host_allocate(std::size_t bytes) {
  const std::size_t size = host_block_size(bytes);
  if (size >= kCachedMinimum) {
    HostCache& cache = host_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto found = cache.free_blocks.find(size);
    if (found != cache.free_blocks.end() && !found->second.empty()) {
      void* block = found->second.back();
      found->second.pop_back();
      cache.cached_bytes -= size;
      return block;
    }
  }
  void* block = std::aligned_alloc(kHostAlignment, size);
  KEYNET_CHECK(block != nullptr, "out of host memory: asked for ", bytes / 1048576.0, " MiB");
  return block;
}

void host_release(void* block, std::size_t bytes) {
  const std::size_t size = host_block_size(bytes);
  if (size >= kCachedMinimum) {
    HostCache& cache = host_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (cache.cached_bytes + size <= kCacheLimit) {
      cache.free_blocks[size].push_back(block);
      cache.cached_bytes += size;
      return;
    }
  }
  std::free(block);
}

}  // namespace

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = device == Device::CPU ? host_allocate(bytes) : cuda_memory::allocate(bytes);
}

Storage::~Storage() {
  if (device_ == Device::CPU)
    host_release(data_, bytes_);
  else
    cuda_memory::release(data_, bytes_);
}

}  // namespace keynet
