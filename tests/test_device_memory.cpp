// The caching allocator's logic (tensor/block_cache.h), and running out of device memory, on any machine,
// on a fake driver: segments split and merged back, small requests kept out of large blocks, the cache given
// back and the request retried once when the driver is out of memory, the error that names the request and
// the device's memory then, and a failing free that never replaces that error (the same logic runs behind
// cudaMalloc, tests/gpu/test_device_safety.cpp runs it on a device, and behind the large host blocks). And
// the rule for retrying a cuDNN or cuBLAS call after out of memory (kernels/cudnn/retry.h): never a call that
// adds into its output.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/cudnn/retry.h"
#include "tensor/block_cache.h"
#include "tensor/error.h"

using namespace keynet;

namespace {

// A driver with `capacity` bytes; host memory stands in for device blocks.
class FakeSource : public BlockSource {
 public:
  explicit FakeSource(std::size_t capacity) : capacity(capacity) {}
  void* allocate(std::size_t bytes) override {
    ++allocations;
    if (used + bytes > capacity) return nullptr;
    used += bytes;
    void* block = std::malloc(bytes);
    sizes[block] = bytes;
    return block;
  }
  std::string free(void* block) noexcept override {
    ++frees;
    used -= sizes[block];
    sizes.erase(block);
    std::free(block);
    return free_failure;
  }
  bool memory_info(std::size_t& free_bytes, std::size_t& total_bytes) noexcept override {
    free_bytes = capacity - used;
    total_bytes = capacity;
    return knows_memory;
  }
  const char* name() const override { return "CUDA"; }

  std::size_t capacity, used = 0;
  int allocations = 0, frees = 0;
  std::string free_failure;  // what free() reports ("": success)
  bool knows_memory = true;
  std::map<void*, std::size_t> sizes;
};

constexpr std::size_t kMiB = 1 << 20;

}  // namespace

TEST_CASE("BlockCache: small requests share one 2 MiB segment and a freed block serves its size again") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(1000);
  CHECK(cache.in_use() == BlockCache::rounded(1000));
  CHECK(cache.in_use() == 1024);
  void* b = cache.allocate(3000);
  CHECK(static_cast<char*>(b) == static_cast<char*>(a) + 1024);  // the rest of the same segment
  CHECK(source.allocations == 1);
  CHECK(source.used == BlockCache::kSmallSegment);
  cache.release(a);
  CHECK(cache.allocate(1020) == a);  // 1000 and 1020 both round to 1024
  CHECK(source.allocations == 1);
  cache.release(a);
  cache.release(b);
  CHECK(cache.in_use() == 0);
  CHECK(cache.cached() == BlockCache::kSmallSegment);
  cache.release_cached();
  CHECK(source.used == 0);
}

TEST_CASE("BlockCache: a freed large block is split for smaller requests, and its pieces merge back when freed") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source);
  char* whole = static_cast<char*>(cache.allocate(8 * kMiB));
  cache.release(whole);
  void* first = cache.allocate(5 * kMiB);
  void* second = cache.allocate(3 * kMiB);
  CHECK(first == whole);
  CHECK(second == whole + 5 * kMiB);
  CHECK(source.allocations == 1);
  CHECK(cache.in_use() == 8 * kMiB);
  cache.release(second);  // merges with nothing yet: its neighbour is in use
  cache.release(first);   // merges with the freed second
  CHECK(cache.allocate(8 * kMiB) == whole);  // the whole segment again, not a new one
  CHECK(source.allocations == 1);
  cache.release(whole);
  CHECK(cache.cached() == BlockCache::kSharedSegment);  // merged back into one block: the whole segment
  cache.release_cached();
  CHECK(source.used == 0);
}

TEST_CASE("BlockCache: a large block is handed out whole when less than 1 MiB would be left over") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source);
  void* whole = cache.allocate(16 * kMiB);  // a segment of its own size
  cache.release(whole);
  CHECK(cache.allocate(15 * kMiB + kMiB / 2) == whole);
  CHECK(cache.in_use() == 16 * kMiB);
  CHECK(cache.cached() == 0);
  cache.release(whole);
  cache.release_cached();
}

TEST_CASE("BlockCache: a small request never splits a large block") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source);
  char* large = static_cast<char*>(cache.allocate(4 * kMiB));
  cache.release(large);
  char* small = static_cast<char*>(cache.allocate(1000));
  CHECK(source.allocations == 2);  // a small segment of its own
  CHECK((small < large || small >= large + BlockCache::kSharedSegment));
  CHECK(cache.allocate(4 * kMiB) == large);
  cache.release(small);
  cache.release(large);
  cache.release_cached();
  CHECK(source.used == 0);
}

TEST_CASE("BlockCache: random requests never overlap, the books balance, and every segment merges back whole") {
  FakeSource source(std::size_t(4) << 30);
  BlockCache cache(source);
  std::mt19937 random(7);
  struct Held {
    unsigned char* data;
    std::size_t bytes;
    unsigned char mark;
  };
  std::vector<Held> held;
  std::size_t asked = 0;
  for (int step = 0; step < 3000; ++step) {
    if (held.size() < 20 || random() % 2 == 0) {
      // Sizes from 128 bytes to 8 MiB, as many of each power of two.
      const int shift = 7 + static_cast<int>(random() % 16);
      const std::size_t bytes = (std::size_t(1) << shift) + random() % (std::size_t(1) << shift);
      const auto mark = static_cast<unsigned char>(step);
      auto* data = static_cast<unsigned char*>(cache.allocate(bytes));
      std::memset(data, mark, bytes);
      held.push_back({data, bytes, mark});
      asked += BlockCache::rounded(bytes);
    } else {
      const std::size_t index = random() % held.size();
      const Held block = held[index];
      held[index] = held.back();
      held.pop_back();
      // Every byte still carries its own mark: no later block was handed out over it.
      REQUIRE(std::count(block.data, block.data + block.bytes, block.mark) == static_cast<long>(block.bytes));
      cache.release(block.data);
      asked -= BlockCache::rounded(block.bytes);
    }
    REQUIRE(cache.in_use() + cache.cached() == source.used);  // every segment byte is in use or cached
    REQUIRE(cache.in_use() >= asked);
    REQUIRE(cache.in_use() < asked + held.size() * BlockCache::kLargeSplitRemainder + 1);
  }
  for (const Held& block : held) cache.release(block.data);
  CHECK(cache.in_use() == 0);
  cache.release_cached();
  CHECK(source.used == 0);  // every segment had merged back into one free block
  CHECK(source.frees == source.allocations);
}

TEST_CASE("BlockCache gives its wholly free segments back to the driver and retries once when out of memory") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(6 * kMiB);
  cache.release(a);  // cached: the driver still counts it
  void* b = cache.allocate(7 * kMiB);  // larger than the cached block: the driver is full until the cache goes back
  CHECK(b != nullptr);
  CHECK(source.frees == 1);
  CHECK(cache.cached() == 0);
  CHECK(cache.in_use() == 7 * kMiB);
  cache.release(b);
  cache.release_cached();
}

TEST_CASE("BlockCache keeps a segment that a block in use still splits when the cache goes back") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* segment = cache.allocate(6 * kMiB);
  cache.release(segment);
  void* held = cache.allocate(2 * kMiB);  // the first 2 MiB of the segment; 4 MiB of it stay cached
  CHECK(held == segment);
  CHECK_THROWS_WITH_AS(cache.allocate(5 * kMiB), doctest::Contains("CUDA out of memory"), Error);
  CHECK(source.frees == 0);
  CHECK(cache.cached() == 4 * kMiB);
  cache.release(held);
  cache.release_cached();
  CHECK(source.used == 0);
}

TEST_CASE("BlockCache gives back wholly free segments beyond its cache limit as they are freed") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source, 13 * kMiB);
  void* a = cache.allocate(12 * kMiB);  // two segments of their own size
  void* b = cache.allocate(12 * kMiB);
  cache.release(a);
  CHECK(cache.cached() == 12 * kMiB);  // under the limit: kept
  cache.release(b);
  CHECK(cache.cached() == 12 * kMiB);  // would be 24: b's segment went back
  CHECK(source.frees == 1);
  CHECK(source.used == 12 * kMiB);
}

TEST_CASE("BlockCache: requests of 1 to 10 MiB share 20 MiB segments; a nearly full device gets the request's size") {
  FakeSource roomy(64 * kMiB);
  BlockCache cache(roomy);
  char* first = static_cast<char*>(cache.allocate(2 * kMiB));
  CHECK(cache.allocate(3 * kMiB) == first + 2 * kMiB);
  CHECK(roomy.allocations == 1);
  CHECK(roomy.used == BlockCache::kSharedSegment);
  FakeSource full(8 * kMiB);
  BlockCache tight(full);
  CHECK(tight.allocate(6 * kMiB) != nullptr);
  CHECK(full.allocations == 2);  // 20 MiB refused, then the request's own 6 MiB
  CHECK(full.used == 6 * kMiB);
  CHECK(tight.cached() == 0);
}

TEST_CASE("BlockCache out of memory: an error naming the bytes asked for and the device's free and total memory") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* held = cache.allocate(6 * kMiB);
  const std::string expected = "CUDA out of memory: asked for 5242880 bytes (5 MiB), 2 MiB free of 8 MiB (keynet "
                               "holds 6 MiB in use); use a smaller batch";
  CHECK_THROWS_WITH_AS(cache.allocate(5 * kMiB), doctest::Contains(expected.c_str()), Error);
  CHECK(source.allocations == 6);  // 20 MiB and then 5 MiB asked for, and again after the (empty) cache went back
  CHECK(cache.in_use() == 6 * kMiB);  // the failed request left nothing behind
  source.knows_memory = false;
  CHECK_THROWS_WITH_AS(cache.allocate(5 * kMiB), doctest::Contains("(5 MiB), free memory unknown"), Error);
  cache.release(held);
  cache.release_cached();
}

TEST_CASE("BlockCache out of memory: a free that fails while the cache goes back keeps the out-of-memory error") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(1 * kMiB);
  void* held = cache.allocate(6 * kMiB);
  cache.release(a);
  source.free_failure = "cudaFree: an illegal memory access was encountered";
  CHECK_THROWS_WITH_AS(cache.allocate(4 * kMiB),
                       doctest::Contains("CUDA out of memory: asked for 4194304 bytes (4 MiB), 2 MiB free of 8 MiB "
                                         "(keynet holds 6 MiB in use); giving back keynet's cached blocks also "
                                         "failed: cudaFree: an illegal memory access was encountered; use a smaller "
                                         "batch"),
                       Error);
  source.free_failure.clear();
  cache.release(held);
  cache.release_cached();
}

TEST_CASE("BlockCache::release_cached on its own throws the driver's failure, after freeing every block") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(1 * kMiB);
  void* b = cache.allocate(2 * kMiB);
  cache.release(a);
  cache.release(b);
  source.free_failure = "cudaFree: unspecified launch failure";
  CHECK_THROWS_WITH_AS(
      cache.release_cached(),
      doctest::Contains("releasing keynet's cache of CUDA blocks failed: cudaFree: unspecified launch failure"), Error);
  CHECK(source.frees == 2);
  CHECK(cache.cached() == 0);
}

TEST_CASE("BlockCache refuses to free a block it did not hand out") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  int outside = 0;
  CHECK_THROWS_WITH_AS(cache.release(&outside),
                       doctest::Contains("keynet's CUDA cache was asked to free a block it did not hand out"), Error);
}

TEST_CASE("BlockCache::fail_next_allocations makes the next requests to the driver report out of memory") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source);
  cache.fail_next_allocations(1);  // the first try fails; the retry after the cache went back succeeds
  void* a = cache.allocate(kMiB);
  CHECK(a != nullptr);
  CHECK(source.allocations == 1);
  cache.fail_next_allocations(2);  // both tries fail
  CHECK_THROWS_WITH_AS(cache.allocate(24 * kMiB), doctest::Contains("CUDA out of memory: asked for 25165824 bytes"),
                       Error);  // more than a's segment has left
  CHECK(source.allocations == 1);
  cache.release(cache.allocate(24 * kMiB));  // the injected failures are used up
  cache.release(a);
  cache.release_cached();
}

namespace {

enum class Status { Success, OutOfMemory, Other };

// A library call that fails with `first` the first time it runs and succeeds after; counts its runs.
struct FakeCall {
  Status first;
  int runs = 0;
  Status operator()() { return ++runs == 1 ? first : Status::Success; }
};

bool out_of_memory(Status status) { return status == Status::OutOfMemory; }

}  // namespace

TEST_CASE("cuDNN/cuBLAS retry: a call that overwrites its output (beta 0) or writes no tensor runs once more") {
  const float zero = 0.0f;
  for (const float* beta : {&zero, static_cast<const float*>(nullptr)}) {
    FakeCall call{Status::OutOfMemory};
    int releases = 0;
    std::string note;
    CHECK(cudnn::retry_out_of_memory<Status>(beta, [&] { return call(); }, out_of_memory, [&] { ++releases; }, note) ==
          Status::Success);
    CHECK(call.runs == 2);
    CHECK(releases == 1);
    CHECK(note.empty());
  }
}

TEST_CASE("cuDNN/cuBLAS retry: a call that adds into its output (beta 1, a weight gradient) is never run twice") {
  const float one = 1.0f;
  FakeCall call{Status::OutOfMemory};
  int releases = 0;
  std::string note;
  CHECK(cudnn::retry_out_of_memory<Status>(&one, [&] { return call(); }, out_of_memory, [&] { ++releases; }, note) ==
        Status::OutOfMemory);
  CHECK(call.runs == 1);
  CHECK(releases == 0);
  CHECK(note == " (out of device memory; not retried: the call adds into its output, so a second run could add twice)");
}

TEST_CASE("cuDNN/cuBLAS retry: only out of memory is retried, and a cache that fails to go back keeps that status") {
  const float zero = 0.0f;
  std::string note;
  FakeCall other{Status::Other};
  CHECK(cudnn::retry_out_of_memory<Status>(&zero, [&] { return other(); }, out_of_memory, [] {}, note) ==
        Status::Other);
  CHECK(other.runs == 1);
  FakeCall call{Status::OutOfMemory};
  CHECK(cudnn::retry_out_of_memory<Status>(
            &zero, [&] { return call(); }, out_of_memory,
            [] { throw Error("releasing keynet's cache of CUDA blocks failed: cudaFree: unspecified launch failure"); },
            note) == Status::OutOfMemory);
  CHECK(call.runs == 1);
  CHECK(note == " (out of device memory; giving keynet's cached blocks back failed: releasing keynet's cache of CUDA "
                "blocks failed: cudaFree: unspecified launch failure)");
}
