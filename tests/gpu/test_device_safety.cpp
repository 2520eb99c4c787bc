// What a device refuses, with a sentence: an allocation that still fails after keynet's cache went
// back to the driver (the failures injected with cuda_memory::fail_next_allocations;
// tests/test_device_memory.cpp checks the same logic on a fake driver), and an output or gradient on
// the CPU handed to an op whose inputs are on the GPU (tests/test_layers.cpp checks the same check
// with another dtype, on any machine).
#include <doctest/doctest.h>

#include <string>

#include "kernels/ops.h"
#include "support/errors.h"
#include "tensor/cuda_memory.h"
#include "tensor/tensor.h"

namespace keynet {

using testing::error_of;

TEST_CASE("a CUDA allocation that fails after the cache went back names the request and the device's memory") {
  {
    Tensor cached = Tensor::empty({1 << 20}, Device::CUDA);  // 4 MiB of a 20 MiB segment, cached when freed
  }
  cuda_memory::fail_next_allocations(2);  // the first try and the retry after the cache went back
  const std::string message = error_of([] { Tensor::empty({16 << 20}, Device::CUDA); });  // more than is cached
  CHECK(message.find("CUDA out of memory: asked for 67108864 bytes (64 MiB), ") != std::string::npos);
  CHECK(message.find(" MiB free of ") != std::string::npos);
  cuda_memory::fail_next_allocations(1);  // the retry succeeds
  Tensor after = Tensor::zeros({16 << 20}, Device::CUDA);
  CHECK(after.to(Device::CPU).at({0}) == 0.0);
}

TEST_CASE("an output or gradient on the CPU for inputs on the GPU is refused, naming the op, argument and devices") {
  for (const Impl impl : {Impl::Ref, Impl::Fast, Impl::Vendor}) {
    ops::ConvDesc c;
    c.N = 1, c.C = 2, c.H = 5, c.W = 5, c.K = 3, c.R = 3, c.S = 3;
    const Tensor inp = Tensor::zeros({1, 2, 5, 5}, Device::CUDA), weight = Tensor::zeros({3, 2, 3, 3}, Device::CUDA);
    Tensor cpu_out = Tensor::zeros({1, 3, 3, 3});
    CHECK(error_of([&] { ops::conv2d_forward(cpu_out, inp, weight, nullptr, c, impl); })
              .find("conv2d_forward: output is on cpu but the input is on cuda") != std::string::npos);
    Tensor cpu_dweight = Tensor::zeros({3, 2, 3, 3});
    CHECK(error_of([&] {
            ops::conv2d_backward(nullptr, cpu_dweight, nullptr, Tensor::zeros({1, 3, 3, 3}, Device::CUDA), inp, weight,
                                 c, impl);
          }).find("conv2d_backward: weight gradient is on cpu but the input is on cuda") != std::string::npos);

    ops::PoolDesc p;
    p.N = 1, p.C = 2, p.H = 4, p.W = 4, p.kernel = 2, p.stride = 2;
    Tensor cpu_pool_out = Tensor::zeros({1, 2, 2, 2});
    CHECK(error_of([&] { ops::max_pool2d_forward(cpu_pool_out, Tensor::zeros({1, 2, 4, 4}, Device::CUDA), p, impl); })
              .find("max_pool2d_forward: output is on cpu but the input is on cuda") != std::string::npos);

    const Tensor linear_inp = Tensor::zeros({2, 3}, Device::CUDA), linear_weight = Tensor::zeros({4, 3}, Device::CUDA);
    Tensor cpu_linear_out = Tensor::zeros({2, 4});
    CHECK(error_of([&] { ops::linear_forward(cpu_linear_out, linear_inp, linear_weight, nullptr, impl); })
              .find("linear_forward: output is on cpu but the input is on cuda") != std::string::npos);
    Tensor cpu_linear_dweight = Tensor::zeros({4, 3});
    CHECK(error_of([&] {
            ops::linear_backward(nullptr, cpu_linear_dweight, nullptr, Tensor::zeros({2, 4}, Device::CUDA), linear_inp,
                                 linear_weight, impl);
          }).find("linear_backward: weight gradient is on cpu but the input is on cuda") != std::string::npos);
  }
}

}  // namespace keynet
