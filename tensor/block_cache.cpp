// The caching allocator's logic (see block_cache.h); the memory is behind BlockSource.
#include "tensor/block_cache.h"

#include <vector>

#include "tensor/error.h"

namespace keynet {

namespace {
constexpr double kMiB = 1048576.0;
}

std::size_t BlockCache::rounded(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  return (bytes + kGranule - 1) / kGranule * kGranule;
}

BlockCache::~BlockCache() {
  std::vector<Block*> blocks(small_free_.begin(), small_free_.end());
  blocks.insert(blocks.end(), large_free_.begin(), large_free_.end());
  for (const auto& [address, block] : in_use_blocks_) blocks.push_back(block);
  for (Block* block : blocks)
    if (!block->previous) source_.free(block->address);
  for (Block* block : blocks) delete block;
}

BlockCache::Block* BlockCache::take_free_block(std::size_t size, bool small) {
  Pool& pool = small ? small_free_ : large_free_;
  Block key{nullptr, size, small};
  auto found = pool.lower_bound(&key);
  if (found == pool.end()) return nullptr;
  Block* block = *found;
  pool.erase(found);
  cached_ -= block->size;
  return split(block, size);
}

// A small block is cut to the request's size, as is a large one when at least 1 MiB would be left: the rest
// of a large block is handed out with it, never left as a sliver no large request could use.
BlockCache::Block* BlockCache::split(Block* block, std::size_t size) {
  const std::size_t rest = block->size - size;
  if (rest >= (block->small ? kGranule : kLargeSplitRemainder)) {
    Block* remainder = new Block{block->address + size, rest, block->small};
    remainder->free = true;
    remainder->previous = block;
    remainder->next = block->next;
    if (block->next) block->next->previous = remainder;
    block->next = remainder;
    block->size = size;
    pool_of(remainder).insert(remainder);
    cached_ += rest;
  }
  return block;
}

BlockCache::Block* BlockCache::new_segment(std::size_t size, bool small) {
  std::size_t segment_size = small ? kSmallSegment : size < kSharedSegmentRequest ? kSharedSegment : size;
  if (failures_to_inject_ > 0) {
    --failures_to_inject_;
    return nullptr;
  }
  void* segment = source_.allocate(segment_size);
  if (!segment && segment_size > size) {  // a nearly full device may still hold the request itself
    segment_size = size;
    segment = source_.allocate(segment_size);
  }
  if (!segment) return nullptr;
  return split(new Block{static_cast<char*>(segment), segment_size, small}, size);
}

void* BlockCache::allocate(std::size_t bytes) {
  const std::size_t size = rounded(bytes);
  const bool small = size < kSmallRequest;
  std::lock_guard<std::mutex> lock(mutex_);
  Block* block = take_free_block(size, small);
  if (!block) {
    block = new_segment(size, small);
    std::string release_failure;
    if (!block) {
      // Wholly free segments, of the other pool or too small, may hold what the request needs: give them back
      // and try once more. A failure to free is kept for the message, never thrown here: the out-of-memory
      // error is what the user must see.
      release_failure = release_cached_locked();
      block = new_segment(size, small);
    }
    if (!block) {
      std::size_t free_bytes = 0, total_bytes = 0;
      const std::string memory = source_.memory_info(free_bytes, total_bytes)
                                     ? detail::concat(free_bytes / kMiB, " MiB free of ", total_bytes / kMiB, " MiB")
                                     : std::string("free memory unknown");
      KEYNET_FAIL(source_.name(), " out of memory: asked for ", bytes, " bytes (", size / kMiB, " MiB), ", memory,
                  " (keynet holds ", in_use_ / kMiB, " MiB in use)",
                  release_failure.empty() ? "" : "; giving back keynet's cached blocks also failed: ",
                  release_failure, "; use a smaller batch");
    }
  }
  block->free = false;
  in_use_blocks_.emplace(block->address, block);
  in_use_ += block->size;
  if (in_use_ > peak_) peak_ = in_use_;
  return block->address;
}

void BlockCache::merge_into(Block* block, Block* next) {
  block->size += next->size;
  block->next = next->next;
  if (next->next) next->next->previous = block;
  delete next;
}

void BlockCache::release(void* address) {
  if (!address) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = in_use_blocks_.find(address);
  KEYNET_CHECK(found != in_use_blocks_.end(), "keynet's ", source_.name(),
               " cache was asked to free a block it did not hand out");
  Block* block = found->second;
  in_use_blocks_.erase(found);
  in_use_ -= block->size;
  cached_ += block->size;
  block->free = true;
  Pool& pool = pool_of(block);
  if (block->next && block->next->free) {
    pool.erase(block->next);  // before its size changes: the pool is ordered by size
    merge_into(block, block->next);
  }
  if (block->previous && block->previous->free) {
    Block* previous = block->previous;
    pool.erase(previous);
    merge_into(previous, block);
    block = previous;
  }
  if (block->whole_segment() && cached_ > cache_limit_) {
    free_segment(block);
    return;
  }
  pool.insert(block);
}

std::string BlockCache::free_segment(Block* block) noexcept {
  cached_ -= block->size;
  std::string failure = source_.free(block->address);
  delete block;
  return failure;
}

// Frees every wholly free segment; the first failure (a sticky error from an earlier fault, say) is returned
// after the rest have been freed, rather than lost.
std::string BlockCache::release_cached_locked() noexcept {
  std::string first_failure;
  for (Pool* pool : {&small_free_, &large_free_})
    for (auto it = pool->begin(); it != pool->end();) {
      Block* block = *it;
      if (!block->whole_segment()) {
        ++it;
        continue;
      }
      it = pool->erase(it);
      std::string failure = free_segment(block);
      if (!failure.empty() && first_failure.empty()) first_failure = std::move(failure);
    }
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
