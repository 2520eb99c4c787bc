// keynet's caching allocator, apart from the memory it manages: the large host blocks (tensor/storage.cpp)
// and device memory (tensor/cuda_memory.cu) both run on it. Segments come from a BlockSource (cudaMalloc, or
// aligned_alloc on the host; a fake in tests/test_device_memory.cpp, so that every path here, out of memory
// included, is tested on any machine) and are cut into blocks: a request takes the smallest free block that
// holds it, split when the rest is worth keeping, and a freed block merges with its free neighbours in the
// same segment. So a training step's memory is about the most bytes its tensors hold at once, not, as a cache
// by exact size would hold, the sum over sizes of the most blocks of each size alive at once. When the source
// is out of memory the cache gives back its wholly free segments and tries once more, then raises an error
// that names the request. The pools and segment sizes follow PyTorch's CUDA caching allocator: requests under
// 1 MiB share 2 MiB segments, so that a small tensor never splits (and then pins) a large block; requests
// from 1 to 10 MiB take 20 MiB segments, whose rest later requests share (at ResNet18's batch 16 on the host:
// 522 MiB of segments for at most 487 MiB of blocks in use, against 551 with a segment of each request's size).
#pragma once
#include <cstddef>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

namespace keynet {

// What the cache asks of the memory behind it.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  // A segment of `bytes`, or nullptr when out of memory; throws keynet::Error on any other failure.
  virtual void* allocate(std::size_t bytes) = 0;
  // Gives a segment back; "" or the driver's failure, never an exception (it runs inside the OOM path).
  virtual std::string free(void* segment) noexcept = 0;
  // The memory's free and total bytes; false when they cannot be told.
  virtual bool memory_info(std::size_t& free_bytes, std::size_t& total_bytes) noexcept = 0;
  // "CUDA" or "host", as the out-of-memory message names it.
  virtual const char* name() const = 0;
};

class BlockCache {
 public:
  static constexpr std::size_t kGranule = 512;                // every block's size and offset is a multiple
  static constexpr std::size_t kSmallRequest = 1 << 20;       // requests below it come from the small pool
  static constexpr std::size_t kSmallSegment = 2 << 20;       // the small pool's segments
  static constexpr std::size_t kSharedSegmentRequest = 10 << 20;  // larger requests below it share 20 MiB
  static constexpr std::size_t kSharedSegment = 20 << 20;         // segments; larger ones get their own
  static constexpr std::size_t kLargeSplitRemainder = 1 << 20;  // a large block is split when this much is left

  // Wholly free segments beyond `cache_limit` cached bytes go back to the source as they are freed.
  explicit BlockCache(BlockSource& source, std::size_t cache_limit = std::numeric_limits<std::size_t>::max())
      : source_(source), cache_limit_(cache_limit) {}
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;
  ~BlockCache();  // gives every segment back, in use or not: a cache's blocks must not outlive it

  // A block of at least `bytes`: from a cached segment when one has room, else from a new segment; when the
  // source is out of memory, the wholly free segments go back to it and the request is tried once more, then
  // refused with keynet::Error ("CUDA out of memory: asked for ..., ... free of ...").
  void* allocate(std::size_t bytes);
  void release(void* block);  // back into the cache; merged with its free neighbours
  // Gives every wholly free segment back to the source; throws keynet::Error naming the first failure, after
  // the rest have been given back.
  void release_cached();
  // Testing: the next `count` requests that reach the source report out of memory without asking it,
  // as a device that is full would (cuda_memory::fail_next_allocations in the GPU tests).
  void fail_next_allocations(int count);
  std::size_t in_use();    // bytes of the blocks handed out
  std::size_t cached();    // bytes of the free blocks, in segments still held
  std::size_t peak();      // the most bytes in use since the last reset_peak
  void reset_peak();

  static std::size_t rounded(std::size_t bytes);  // the size a request of `bytes` takes at least

 private:
  // A piece of a segment; its neighbours in address order are linked, so a freed block finds them.
  struct Block {
    char* address;
    std::size_t size;
    bool small;  // which pool's segment it lies in
    bool free = false;
    Block* previous = nullptr;
    Block* next = nullptr;
    bool whole_segment() const { return !previous && !next; }
  };
  struct SmallestFirst {  // best fit: the smallest block that holds a request, the lowest address on ties
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : a->address < b->address;
    }
  };
  using Pool = std::set<Block*, SmallestFirst>;

  Pool& pool_of(const Block* block) { return block->small ? small_free_ : large_free_; }
  Block* take_free_block(std::size_t size, bool small);  // split to `size` when worth it; nullptr when none fits
  Block* split(Block* block, std::size_t size);          // `block`, out of its pool, cut to `size`; the rest cached
  Block* new_segment(std::size_t size, bool small);      // nullptr when the source has not even `size`
  void merge_into(Block* block, Block* next);             // `next`, out of its pool, joins `block`
  std::string free_segment(Block* block) noexcept;        // a wholly free segment back to the source
  std::string release_cached_locked() noexcept;           // "" or the first failure

  BlockSource& source_;
  const std::size_t cache_limit_;
  std::mutex mutex_;
  Pool small_free_, large_free_;
  std::unordered_map<void*, Block*> in_use_blocks_;
  std::size_t in_use_ = 0, peak_ = 0, cached_ = 0;
  int failures_to_inject_ = 0;
};

}  // namespace keynet
