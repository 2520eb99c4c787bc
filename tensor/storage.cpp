#include "tensor/storage.h"

#include <sanitizer/asan_interface.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "tensor/block_cache.h"
#include "tensor/cuda_memory.h"
#include "tensor/error.h"

namespace keynet {

namespace {

constexpr std::size_t kHostAlignment = 64;  // one cache line, one AVX-512 register
// Large host blocks go through keynet's caching allocator (tensor/block_cache.h): glibc returns big blocks
// to the kernel at once, and a training step that allocates the same activations again would pay a page
// fault per 4 KiB (about 100k faults per ResNet18 step at batch 16). Small blocks stay with malloc, which
// reuses them itself.
constexpr std::size_t kCachedMinimum = 64 * 1024;
constexpr std::size_t kCacheLimit = std::size_t(4) << 30;

// Under AddressSanitizer a segment's bytes are poisoned until a block hands them out and again once it is
// freed, so that the sanitizer still sees a read of a freed tensor and a write past a tensor's end into a
// free neighbour, as it would if each tensor had its own malloc. Elsewhere the ASAN_ macros are empty.
class HostSource : public BlockSource {
 public:
  void* allocate(std::size_t bytes) override {
    void* segment = std::aligned_alloc(kHostAlignment, bytes);
    if (segment) ASAN_POISON_MEMORY_REGION(segment, bytes);
    return segment;
  }
  std::string free(void* segment) noexcept override {
    std::free(segment);  // AddressSanitizer's free takes the chunk back whatever its bytes' poison
    return "";
  }
  bool memory_info(std::size_t& free_bytes, std::size_t& total_bytes) noexcept override {
    struct sysinfo info;
    if (sysinfo(&info) != 0) return false;
    free_bytes = std::size_t(info.freeram) * info.mem_unit;
    total_bytes = std::size_t(info.totalram) * info.mem_unit;
    return true;
  }
  const char* name() const override { return "host"; }
};

BlockCache& host_cache() {
  // Neither is ever destroyed: storages may outlive static destructors.
  static BlockCache* cache = new BlockCache(*new HostSource(), kCacheLimit);
  return *cache;
}

void* host_allocate(std::size_t bytes) {
  if (bytes >= kCachedMinimum) {
    void* block = host_cache().allocate(bytes);
    ASAN_UNPOISON_MEMORY_REGION(block, bytes);
    return block;
  }
  const std::size_t size = std::max(kHostAlignment, (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment);
  void* block = std::aligned_alloc(kHostAlignment, size);  // its size a multiple of the alignment, as it requires
  KEYNET_CHECK(block != nullptr, "host out of memory: asked for ", bytes, " bytes");
  return block;
}

void host_release(void* block, std::size_t bytes) {
  if (bytes >= kCachedMinimum) {
    ASAN_POISON_MEMORY_REGION(block, bytes);
    host_cache().release(block);
  } else
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
    cuda_memory::release(data_);
}

}  // namespace keynet
