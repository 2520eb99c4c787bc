// The caching allocator's logic (see block_cache.h); the driver is behind BlockSource.
#include "tensor/block_cache.h"

#include "tensor/error.h"

namespace keynet {

namespace {
constexpr double kMiB = 1048576.0;
}

// Round up so that slightly different sizes share blocks.
std::size_t BlockCache::rounded(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  const std::size_t granule = bytes < (1 << 20) ? 512 : (1 << 20);
  return (bytes + granule - 1) / granule * granule;
}

void* BlockCache::allocate_from_source(std::size_t size) {
  if (failures_to_inject_ > 0) {
    --failures_to_inject_;
    return nullptr;
  }
  return source_.allocate(size);
}

void* BlockCache::allocate(std::size_t bytes) {
  const std::size_t size = rounded(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* block = nullptr;
  auto found = free_blocks_.find(size);
  if (found != free_blocks_.end() && !found->second.empty()) {
    block = found->second.back();
    found->second.pop_back();
    cached_ -= size;
  } else {
    block = allocate_from_source(size);
    std::string release_failure;
    if (!block) {
      // The cache may hold what the request needs in blocks of other sizes: give it back and try once
      // more. A failure to free is kept for the message, never thrown here: the out-of-memory error is
      // what the user must see.
      release_failure = release_cached_locked();
      block = allocate_from_source(size);
    }
    if (!block) {
      std::size_t free_bytes = 0, total_bytes = 0;
      const std::string device = source_.memory_info(free_bytes, total_bytes)
                                     ? detail::concat(free_bytes / kMiB, " MiB free of ", total_bytes / kMiB, " MiB")
                                     : std::string("free memory unknown");
      KEYNET_FAIL(source_.name(), " out of memory: asked for ", bytes, " bytes (", size / kMiB, " MiB), ", device,
                  " (keynet holds ", in_use_ / kMiB, " MiB in use)",
                  release_failure.empty() ? "" : "; giving back keynet's cached blocks also failed: ",
                  release_failure, "; use a smaller batch");
    }
  }
  in_use_ += size;
  if (in_use_ > peak_) peak_ = in_use_;
  return block;
}

void BlockCache::release(void* block, std::size_t bytes) {
  if (!block) return;
  const std::size_t size = rounded(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  free_blocks_[size].push_back(block);
  cached_ += size;
  in_use_ -= size;
}

// Frees every cached block; the first failure (a sticky error from an earlier fault, say) is returned
// after the rest have been freed, rather than lost.
std::string BlockCache::release_cached_locked() noexcept {
  std::string first_failure;
  for (auto& [size, blocks] : free_blocks_)
    for (void* block : blocks) {
      std::string failure = source_.free(block);
      if (!failure.empty() && first_failure.empty()) first_failure = std::move(failure);
    }
  free_blocks_.clear();
  cached_ = 0;
  return first_failure;
}

void BlockCache::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string failure = release_cached_locked();
  KEYNET_CHECK(failure.empty(), "releasing keynet's cache of ", source_.name(), " blocks failed: ", failure);
}

void BlockCache::fail_next_allocations(int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_to_inject_ = count;
}

// The statistics change under the lock in allocate and release, so they are read under it too.
std::size_t BlockCache::in_use() {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_use_;
}
std::size_t BlockCache::cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_;
}
std::size_t BlockCache::peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}
void BlockCache::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  peak_ = in_use_;
}

}  // namespace keynet
