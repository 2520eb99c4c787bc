// Tensor, Storage and Rng basics.
#include <doctest/doctest.h>

#include "tensor/cuda_memory.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

using namespace keynet;

TEST_CASE("creation, element access, reshape and views") {
  Tensor t = Tensor::zeros({2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK(t.dim(-1) == 4);
  t.set({1, 2, 3}, 5.0);
  CHECK(t.at({1, 2, 3}) == 5.0);
  Tensor r = t.reshape({6, -1});
  CHECK(r.shape() == Shape{6, 4});
  CHECK(r.at({5, 3}) == 5.0);  // shares storage
  Tensor v = t.view(12, {3, 4});
  CHECK(v.at({2, 3}) == 5.0);
  CHECK_THROWS_AS(t.reshape({5, 5}), Error);
  CHECK_THROWS_AS(t.view(20, {2, 4}), Error);
  CHECK_THROWS_AS(t.at({2, 0, 0}), Error);
  CHECK_THROWS_AS(Tensor::zeros({1, 1, 1, 1, 1}), Error);
  CHECK_THROWS_AS(t.data<double>(), Error);
}

TEST_CASE("clone copies, dtype conversion round-trips") {
  Rng rng(1);
  Tensor a = Tensor::normal({3, 5}, rng, 0, 1);
  Tensor b = a.clone();
  b.set({0, 0}, 100.0);
  CHECK(a.at({0, 0}) != 100.0);
  Tensor d = a.to(DType::F64);
  CHECK(d.dtype() == DType::F64);
  CHECK(d.to(DType::F32).to_float_vector() == a.to_float_vector());
}

#if defined(__SANITIZE_ADDRESS__)
TEST_CASE("under AddressSanitizer a large host tensor's bytes are poisoned once it is freed, though cached") {
  const float* freed = nullptr;
  {
    Tensor large = Tensor::zeros({1 << 18});  // 1 MiB: from the caching allocator
    freed = large.data<float>();
    CHECK(__asan_region_is_poisoned(const_cast<float*>(freed), 1 << 20) == nullptr);
  }
  CHECK(__asan_address_is_poisoned(freed));
  CHECK(__asan_address_is_poisoned(freed + (1 << 18) - 1));
}
#endif

TEST_CASE("Rng is deterministic and well spread") {
  Rng a(5), b(5), c(6);
  for (int i = 0; i < 10; ++i) CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());
  Rng r(7);
  double sum = 0, squares = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal();
    sum += x;
    squares += x * x;
  }
  CHECK(std::abs(sum / n) < 0.03);
  CHECK(std::abs(squares / n - 1.0) < 0.05);
  for (int i = 0; i < 1000; ++i) CHECK(r.below(7) < 7);
}

TEST_CASE("CUDA tensors without a device give a clear error") {
  if (cuda_memory::device_available()) return;  // covered by the GPU suites
  CHECK_THROWS_AS(Tensor::zeros({2}, Device::CUDA), Error);
}
