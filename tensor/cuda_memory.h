// Device memory behind Storage. Implemented by tensor/cuda_memory.cu (caching allocator) in CUDA
// builds and by tensor/cuda_memory_nocuda.cpp otherwise, where every call explains that CUDA is off.
#pragma once
#include <cstddef>
#include <string>

#include "tensor/device.h"

namespace keynet::cuda_memory {

bool device_available();                  // built with CUDA and a device is present
// Why the device query failed, when it failed for another reason than there being no device or no
// driver (a broken driver, a device in a bad state); "" otherwise. The GPU suites fail on it instead
// of reporting "skipped".
std::string device_query_failure();
// Throws keynet::Error naming the bytes asked for and the device's free and total memory when the
// device is out of memory even after keynet's cache has gone back to the driver.
void* allocate(std::size_t bytes);
void release(void* ptr);
// Testing: the next `count` allocations that reach the driver report out of memory (a full device).
void fail_next_allocations(int count);
// Gives every cached free block back to the driver (torch.cuda.empty_cache): before retrying a
// library call (cuDNN, cuBLAS) that ran out of device memory for its own workspace.
void release_cache();
// Copies between any two devices; synchronous with respect to the host.
void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);
void set_zero(void* ptr, std::size_t bytes);
std::size_t bytes_in_use();
std::size_t peak_bytes();
void reset_peak();
void synchronize();

}  // namespace keynet::cuda_memory
