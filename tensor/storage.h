// Storage: one buffer on one device, shared by the tensors that view it. Non-copyable; there is no
// hidden mirror on another device: data moves only through Tensor::to().
#pragma once
#include <cstddef>
#include <memory>

#include "tensor/device.h"

namespace keynet {

class Storage {
 public:
  Storage(std::size_t bytes, Device device);  // uninitialised memory
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

}  // namespace keynet
