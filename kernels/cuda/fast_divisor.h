// Integer division by a run-time constant without a divide instruction: q = (umulhi(n, mul) + n) >> shift
// with mul and shift worked out once on the host (Granlund and Montgomery's round-up method). Exact for
// 0 <= n < 2^31 and 1 <= divisor < 2^31. The implicit-GEMM loaders of conv2d.cu divide in their inner
// loop, where a hardware-free division costs about twenty instructions.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define KEYNET_HOST_DEVICE __host__ __device__
#else
#define KEYNET_HOST_DEVICE
#endif

namespace keynet::cuda {

struct FastDivisor {
  uint32_t divisor = 1, mul = 1, shift = 0;

  FastDivisor() = default;
  explicit FastDivisor(int d) : divisor(static_cast<uint32_t>(d)) {
    while ((uint64_t{1} << shift) < divisor) ++shift;  // shift = ceil(log2(d))
    mul = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - divisor)) / divisor + 1);
  }

  KEYNET_HOST_DEVICE int div(int n) const {
#ifdef __CUDA_ARCH__
    const uint32_t high = __umulhi(static_cast<uint32_t>(n), mul);
#else
    const uint32_t high = static_cast<uint32_t>((uint64_t{static_cast<uint32_t>(n)} * mul) >> 32);
#endif
    return static_cast<int>((high + static_cast<uint32_t>(n)) >> shift);
  }
  // n = q * divisor + r
  KEYNET_HOST_DEVICE void divmod(int n, int& q, int& r) const {
    q = div(n);
    r = n - q * static_cast<int>(divisor);
  }
};

}  // namespace keynet::cuda
