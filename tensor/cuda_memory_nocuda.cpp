// CPU-only build: the CUDA device is never available and every device request says why.
#include "tensor/cuda_memory.h"

#include "tensor/error.h"

namespace keynet::cuda_memory {

namespace {
[[noreturn]] void no_cuda() {
  KEYNET_FAIL("this keynet was built without CUDA (configure with -DKEYNET_CUDA=ON on a machine with the CUDA toolkit)");
}
}  // namespace

bool device_available() { return false; }
std::string device_query_failure() { return ""; }
void* allocate(std::size_t) { no_cuda(); }
void release(void*) {}
void fail_next_allocations(int) {}
void release_cache() {}
void copy(void*, Device, const void*, Device, std::size_t) { no_cuda(); }
void set_zero(void*, std::size_t) { no_cuda(); }
std::size_t bytes_in_use() { return 0; }
std::size_t peak_bytes() { return 0; }
void reset_peak() {}
void synchronize() {}

}  // namespace keynet::cuda_memory
