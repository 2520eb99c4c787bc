// The logic of keynet's caching allocator for device memory, apart from the driver: blocks rounded to
// a granule, freed blocks kept per size and handed out again, the cache given back and the request
// retried once when the driver is out of memory, and the error that names the request then. The
// driver sits behind BlockSource (cudaMalloc in tensor/cuda_memory.cu; a fake in tests/test_tensor.cpp),
// so that every path here, out of memory included, is tested on any machine.
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace keynet {

// What the cache asks of the driver.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  // A block of `bytes`, or nullptr when the device is out of memory; throws keynet::Error on any other
  // failure.
  virtual void* allocate(std::size_t bytes) = 0;
  // Gives a block back; "" or the driver's failure, never an exception (it runs inside the OOM path).
  virtual std::string free(void* block) noexcept = 0;
  // The device's free and total bytes; false when the driver cannot say.
  virtual bool memory_info(std::size_t& free_bytes, std::size_t& total_bytes) noexcept = 0;
  // "CUDA", as the out-of-memory message names it.
  virtual const char* name() const = 0;
};

class BlockCache {
 public:
  explicit BlockCache(BlockSource& source) : source_(source) {}
  // A block of at least `bytes`: a cached one of the same rounded size, else a new one from the source;
  // when the source is out of memory, the cache goes back to it and the request is tried once more,
  // then refused with keynet::Error ("CUDA out of memory: asked for ..., ... free of ...").
  void* allocate(std::size_t bytes);
  void release(void* block, std::size_t bytes);  // into the cache; the source sees it again only on release_cached
  // Gives every cached block back to the source; throws keynet::Error naming the first failure, after
  // the rest have been given back.
  void release_cached();
  // Testing: the next `count` requests that reach the source report out of memory without asking it,
  // as a device that is full would (cuda_memory::fail_next_allocations in the GPU tests).
  void fail_next_allocations(int count);
  std::size_t in_use();
  std::size_t cached();
  std::size_t peak();
  void reset_peak();

  static std::size_t rounded(std::size_t bytes);  // the size a request of `bytes` takes

 private:
  std::string release_cached_locked() noexcept;  // "" or the first failure
  void* allocate_from_source(std::size_t size);  // nullptr when out of memory

  BlockSource& source_;
  std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_blocks_;  // size -> blocks
  std::size_t in_use_ = 0, peak_ = 0, cached_ = 0;
  int failures_to_inject_ = 0;
};

}  // namespace keynet
