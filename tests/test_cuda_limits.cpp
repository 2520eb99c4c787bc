// The handwritten CUDA kernels refuse shapes past what they can index, with a message, before anything
// is launched; so these checks run on any CUDA build, GPU or not. Without the checks the same calls
// would launch (and fail for another reason, or on a GPU read out of bounds): the tests match the
// message, not just the exception.
#include <doctest/doctest.h>

#include "tensor/error.h"
#ifdef KEYNET_WITH_CUDA
#include "kernels/cuda/kernels.h"
#endif

using namespace keynet;

TEST_CASE("CUDA kernels refuse shapes past their index range, before launching") {
#ifndef KEYNET_WITH_CUDA
  MESSAGE("built without CUDA: no CUDA kernels to check");
#else
  const auto past_int = doctest::Contains("more than keynet's CUDA kernels can index");
  // A 1x1 conv whose N*H*W is 2^31: the data gradient's GEMM dimension, and the input's element count.
  const ops::ConvDesc wide_input{.N = 32768, .C = 1, .H = 256, .W = 256, .K = 1, .R = 1, .S = 1};
  CHECK_THROWS_WITH_AS(cuda::fast::conv2d_forward(nullptr, nullptr, nullptr, nullptr, wide_input), past_int, Error);
  CHECK_THROWS_WITH_AS(cuda::ref::conv2d_forward(nullptr, nullptr, nullptr, nullptr, wide_input), past_int, Error);
  CHECK_THROWS_WITH_AS(cuda::fast::conv2d_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, wide_input),
                       past_int, Error);
  // A modest input (2^25 elements) whose output has 2^32: N*K*P*Q.
  const ops::ConvDesc wide_output{.N = 512, .C = 1, .H = 256, .W = 256, .K = 128, .R = 1, .S = 1};
  CHECK_THROWS_WITH_AS(cuda::fast::conv2d_forward(nullptr, nullptr, nullptr, nullptr, wide_output),
                       doctest::Contains("conv2d_forward: the output has 4294967296 elements"), Error);
  CHECK_THROWS_WITH_AS(cuda::ref::conv2d_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, wide_output),
                       past_int, Error);
  // Linear: inp (N, I) with N*I = 2^31.
  CHECK_THROWS_WITH_AS(cuda::fast::linear_forward(nullptr, nullptr, nullptr, nullptr, 65536, 32768, 10), past_int,
                       Error);
  CHECK_THROWS_WITH_AS(
      cuda::fast::linear_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 65536, 32768, 10), past_int,
      Error);
  CHECK_THROWS_WITH_AS(cuda::ref::linear_forward(nullptr, nullptr, nullptr, nullptr, 65536, 32768, 10), past_int,
                       Error);
  CHECK_THROWS_WITH_AS(
      cuda::ref::linear_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 65536, 32768, 10), past_int,
      Error);
  // Batch norm: the fast kernels' channels live on the grid's y dimension (at most 65,535).
  const ops::BatchNormDesc many_channels{.N = 1, .C = 65536, .HW = 1};
  const auto too_many = doctest::Contains("65536 channels, more than the fast CUDA batch norm handles");
  CHECK_THROWS_WITH_AS(cuda::fast::batch_norm2d_forward_train(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                              nullptr, nullptr, many_channels),
                       too_many, Error);
  CHECK_THROWS_WITH_AS(cuda::fast::batch_norm2d_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                         nullptr, many_channels),
                       too_many, Error);
  CHECK_THROWS_WITH_AS(cuda::fast::batch_norm2d_relu_forward_train(nullptr, nullptr, nullptr, nullptr, nullptr,
                                                                   nullptr, nullptr, nullptr, many_channels),
                       too_many, Error);
  CHECK_THROWS_WITH_AS(cuda::fast::batch_norm2d_relu_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                              nullptr, nullptr, nullptr, many_channels),
                       too_many, Error);
#endif
}
