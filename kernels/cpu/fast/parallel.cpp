// Per-thread scratch buffers of the fast CPU kernels (see parallel.h).
#include "kernels/cpu/fast/parallel.h"

#include <array>
#include <cstdlib>
#include <memory>
#include <new>

namespace keynet::cpu::fast {

namespace {
struct Free {
  void operator()(float* p) const { std::free(p); }
};
struct Buffer {
  std::unique_ptr<float, Free> data;
  int64_t size = 0;
};
}  // namespace

float* scratch(int slot, int64_t count) {
  thread_local std::array<Buffer, 5> buffers;
  Buffer& buffer = buffers.at(static_cast<std::size_t>(slot));
  if (buffer.size < count) {  // grows without keeping the old contents: callers fill what they use
    const auto bytes = static_cast<std::size_t>((count * int64_t(sizeof(float)) + 63) / 64 * 64);
    buffer.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!buffer.data) throw std::bad_alloc();
    buffer.size = count;
  }
  return buffer.data.get();
}

}  // namespace keynet::cpu::fast
