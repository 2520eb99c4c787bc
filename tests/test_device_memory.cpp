// Running out of device memory, on any machine. The caching allocator's logic (tensor/block_cache.h)
// on a fake driver: blocks reused by size, the cache given back and the request retried once when the
// driver is out of memory, the error that names the request and the device's memory then, and a
// failing free that never replaces that error (the same logic runs behind cudaMalloc;
// tests/gpu/test_device_safety.cpp runs it on a device). And the rule for retrying a cuDNN or cuBLAS
// call after out of memory (kernels/cudnn/retry.h): never a call that adds into its output.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <string>

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

TEST_CASE("BlockCache reuses a freed block of the same rounded size without asking the driver") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(1000);
  CHECK(cache.in_use() == BlockCache::rounded(1000));
  cache.release(a, 1000);
  CHECK(cache.cached() == 1024);
  CHECK(cache.allocate(1020) == a);  // 1000 and 1020 both round to 1024
  CHECK(source.allocations == 1);
  cache.release(a, 1020);
  cache.release_cached();
  CHECK(source.used == 0);
}

TEST_CASE("BlockCache gives its cache back to the driver and retries once when out of memory") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(6 * kMiB);
  cache.release(a, 6 * kMiB);  // cached: the driver still counts it
  void* b = cache.allocate(4 * kMiB);  // another size: the driver is full until the cache goes back
  CHECK(b != nullptr);
  CHECK(source.frees == 1);
  CHECK(cache.cached() == 0);
  CHECK(cache.in_use() == 4 * kMiB);
  cache.release(b, 4 * kMiB);
  cache.release_cached();
}

TEST_CASE("BlockCache out of memory: an error naming the bytes asked for and the device's free and total memory") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* held = cache.allocate(6 * kMiB);
  const std::string expected = "CUDA out of memory: asked for 5242880 bytes (5 MiB), 2 MiB free of 8 MiB (keynet "
                               "holds 6 MiB in use); use a smaller batch";
  CHECK_THROWS_WITH_AS(cache.allocate(5 * kMiB), doctest::Contains(expected.c_str()), Error);
  CHECK(source.allocations == 3);  // the first try, and one retry after the (empty) cache went back
  CHECK(cache.in_use() == 6 * kMiB);  // the failed request left nothing behind
  source.knows_memory = false;
  CHECK_THROWS_WITH_AS(cache.allocate(5 * kMiB), doctest::Contains("(5 MiB), free memory unknown"), Error);
  cache.release(held, 6 * kMiB);
  cache.release_cached();
}

TEST_CASE("BlockCache out of memory: a free that fails while the cache goes back keeps the out-of-memory error") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(1 * kMiB);
  void* held = cache.allocate(6 * kMiB);
  cache.release(a, 1 * kMiB);
  source.free_failure = "cudaFree: an illegal memory access was encountered";
  CHECK_THROWS_WITH_AS(cache.allocate(4 * kMiB),
                       doctest::Contains("CUDA out of memory: asked for 4194304 bytes (4 MiB), 2 MiB free of 8 MiB "
                                         "(keynet holds 6 MiB in use); giving back keynet's cached blocks also "
                                         "failed: cudaFree: an illegal memory access was encountered; use a smaller "
                                         "batch"),
                       Error);
  source.free_failure.clear();
  cache.release(held, 6 * kMiB);
  cache.release_cached();
}

TEST_CASE("BlockCache::release_cached on its own throws the driver's failure, after freeing every block") {
  FakeSource source(8 * kMiB);
  BlockCache cache(source);
  void* a = cache.allocate(1 * kMiB);
  void* b = cache.allocate(2 * kMiB);
  cache.release(a, 1 * kMiB);
  cache.release(b, 2 * kMiB);
  source.free_failure = "cudaFree: unspecified launch failure";
  CHECK_THROWS_WITH_AS(
      cache.release_cached(),
      doctest::Contains("releasing keynet's cache of CUDA blocks failed: cudaFree: unspecified launch failure"), Error);
  CHECK(source.frees == 2);
  CHECK(cache.cached() == 0);
}

TEST_CASE("BlockCache::fail_next_allocations makes the next requests to the driver report out of memory") {
  FakeSource source(64 * kMiB);
  BlockCache cache(source);
  cache.fail_next_allocations(1);  // the first try fails; the retry after the cache went back succeeds
  void* a = cache.allocate(kMiB);
  CHECK(a != nullptr);
  CHECK(source.allocations == 1);
  cache.fail_next_allocations(2);  // both tries fail
  CHECK_THROWS_WITH_AS(cache.allocate(2 * kMiB), doctest::Contains("CUDA out of memory: asked for 2097152 bytes"),
                       Error);
  CHECK(source.allocations == 1);
  cache.release(cache.allocate(2 * kMiB), 2 * kMiB);  // the injected failures are used up
  cache.release(a, kMiB);
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
