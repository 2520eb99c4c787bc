// Per-thread scratch buffers of the fast CPU kernels (see parallel.h).
#include "kernels/cpu/fast/parallel.h"

#include <array>

namespace keynet::cpu::fast {

float* scratch(int slot, int64_t count) {
  thread_local std::array<std::vector<float, Eigen::aligned_allocator<float>>, 4> buffers;
  auto& buffer = buffers.at(static_cast<std::size_t>(slot));
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

}  // namespace keynet::cpu::fast
