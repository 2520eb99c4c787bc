// FastDivisor (kernels/cuda/fast_divisor.h), the division of the CUDA implicit-GEMM loaders, equals
// integer division. Its host half is plain C++, so the check runs in every build, GPU or not.
#include <doctest/doctest.h>

#include <cstdio>

#include "kernels/cuda/fast_divisor.h"
#include "tensor/rng.h"

using namespace keynet;

TEST_CASE("FastDivisor equals integer division on small, random and extreme operands") {
  Rng rng(8);
  long wrong = 0;
  auto check = [&](int divisor, int n) {
    const cuda::FastDivisor fast(divisor);
    int q, r;
    fast.divmod(n, q, r);
    if (q != n / divisor || r != n % divisor) {
      if (++wrong <= 5) std::printf("FAIL FastDivisor(%d).divmod(%d) = %d, %d\n", divisor, n, q, r);
    }
  };
  for (int divisor = 1; divisor <= 5000; ++divisor) {
    for (int n = 0; n < 600; ++n) check(divisor, n);
    for (int i = 0; i < 40; ++i) check(divisor, static_cast<int>(rng.below(1u << 31)));
    check(divisor, 2147483647);
  }
  for (int i = 0; i < 200000; ++i)
    check(1 + static_cast<int>(rng.below((1u << 31) - 1)), static_cast<int>(rng.below(1u << 31)));
  CHECK(wrong == 0);
}
