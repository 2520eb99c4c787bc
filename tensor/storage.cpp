#include "tensor/storage.h"

#include <cstdlib>
#include <new>

#include "tensor/cuda_memory.h"
#include "tensor/error.h"

namespace keynet {

namespace {
constexpr std::size_t kHostAlignment = 64;  // one cache line, one AVX-512 register
}

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device == Device::CPU) {
    const std::size_t padded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    data_ = std::aligned_alloc(kHostAlignment, padded == 0 ? kHostAlignment : padded);
    KEYNET_CHECK(data_ != nullptr, "out of host memory: asked for ", bytes / 1048576.0, " MiB");
  } else {
    data_ = cuda_memory::allocate(bytes);
  }
}

Storage::~Storage() {
  if (device_ == Device::CPU)
    std::free(data_);
  else
    cuda_memory::release(data_, bytes_);
}

}  // namespace keynet
