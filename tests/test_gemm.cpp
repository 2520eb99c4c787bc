// Our SGEMM (kernels/cpu/fast/gemm.h) against a double-precision naive product and against Eigen, for each
// micro-kernel forced: seeded random shapes with ragged edges, every transpose combination, = and +=,
// padded leading dimensions, small blockings that cross every cache-block edge, and the threaded entry.
// Tolerances follow the parity rule (tests/support/parity.h): factor * 2^-24 * 8 * sqrt(K) * max|want|.
#include <doctest/doctest.h>

#include <Eigen/Core>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/fast/gemm.h"
#include "support/parity.h"
#include "tensor/rng.h"

using namespace keynet;
using keynet::cpu::fast::GemmBlocking;
using keynet::cpu::fast::GemmKernel;

namespace {

constexpr GemmKernel kKernels[] = {GemmKernel::avx512, GemmKernel::avx2, GemmKernel::generic};

struct Case {
  bool transpose_a = false, transpose_b = false;
  int64_t M = 1, N = 1, K = 1;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // leading dimension minus the row width
  bool accumulate = false;
  std::string describe() const {
    return std::string(transpose_a ? "T" : "N") + (transpose_b ? "T" : "N") + " M=" + std::to_string(M) +
           " N=" + std::to_string(N) + " K=" + std::to_string(K) + " pads=" + std::to_string(pad_a) + "," +
           std::to_string(pad_b) + "," + std::to_string(pad_c) + (accumulate ? " +=" : " =");
  }
};

// A row-major matrix of rows x cols with row stride cols + pad, exactly as long as its last element needs
// (so a read past the end is a heap overflow the sanitizer build reports); the padding holds NaN so that
// reading it poisons the result.
struct Matrix {
  int64_t rows, cols, ld;
  std::vector<float> data;
  Matrix(int64_t rows_, int64_t cols_, int64_t pad, Rng& rng)
      : rows(rows_), cols(cols_), ld(cols_ + pad),
        data(std::size_t((rows_ - 1) * (cols_ + pad) + cols_), std::numeric_limits<float>::quiet_NaN()) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) at(i, j) = float(rng.uniform(-1, 1));
  }
  float& at(int64_t i, int64_t j) { return data[std::size_t(i * ld + j)]; }
  float at(int64_t i, int64_t j) const { return data[std::size_t(i * ld + j)]; }
};

struct Operands {
  Matrix A, B, C;
  Operands(const Case& c, Rng& rng)
      : A(c.transpose_a ? c.K : c.M, c.transpose_a ? c.M : c.K, c.pad_a, rng),
        B(c.transpose_b ? c.N : c.K, c.transpose_b ? c.K : c.N, c.pad_b, rng), C(c.M, c.N, c.pad_c, rng) {}
  double op_a(const Case& c, int64_t i, int64_t k) const { return c.transpose_a ? A.at(k, i) : A.at(i, k); }
  double op_b(const Case& c, int64_t k, int64_t j) const { return c.transpose_b ? B.at(j, k) : B.at(k, j); }
};

// The product in double from the operands as given (C's initial values when accumulating).
std::vector<double> naive(const Case& c, const Operands& x) {
  std::vector<double> want(std::size_t(c.M * c.N));
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double sum = c.accumulate ? x.C.at(i, j) : 0.0;
      for (int64_t k = 0; k < c.K; ++k) sum += x.op_a(c, i, k) * x.op_b(c, k, j);
      want[std::size_t(i * c.N + j)] = sum;
    }
  return want;
}

// The same product by Eigen in float.
std::vector<double> eigen_product(const Case& c, const Operands& x) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using View = Eigen::Map<const Mat, Eigen::Unaligned, Eigen::OuterStride<>>;
  const View A(x.A.data.data(), x.A.rows, x.A.cols, Eigen::OuterStride<>(x.A.ld));
  const View B(x.B.data.data(), x.B.rows, x.B.cols, Eigen::OuterStride<>(x.B.ld));
  Mat C = View(x.C.data.data(), c.M, c.N, Eigen::OuterStride<>(x.C.ld));
  if (!c.accumulate) C.setZero();
  if (c.transpose_a && c.transpose_b) C.noalias() += A.transpose() * B.transpose();
  if (c.transpose_a && !c.transpose_b) C.noalias() += A.transpose() * B;
  if (!c.transpose_a && c.transpose_b) C.noalias() += A * B.transpose();
  if (!c.transpose_a && !c.transpose_b) C.noalias() += A * B;
  return {C.data(), C.data() + C.size()};
}

std::vector<double> values(const Matrix& m) {
  std::vector<double> out;
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) out.push_back(m.at(i, j));
  return out;
}

// C's padding (between its width and its leading dimension) must be left as it was: NaN.
bool padding_untouched(const Matrix& m) {
  for (int64_t i = 0; i + 1 < m.rows; ++i)
    for (int64_t j = m.cols; j < m.ld; ++j)
      if (!std::isnan(m.at(i, j))) return false;
  return true;
}

void check_case(GemmKernel kernel, const Case& c, uint64_t seed, GemmBlocking blocking = {}) {
  Rng rng(seed);
  Operands x(c, rng);
  const std::vector<double> want = naive(c, x), eigen = eigen_product(c, x);
  cpu::fast::sgemm(c.transpose_a, c.transpose_b, c.M, c.N, c.K, x.A.data.data(), x.A.ld, x.B.data.data(), x.B.ld,
                   x.C.data.data(), x.C.ld, c.accumulate, kernel, blocking);
  const std::vector<double> got = values(x.C);
  const double K = double(c.K + (c.accumulate ? 1 : 0));  // C's initial value is one more term of the sum
  const parity::Comparison vs_double = parity::compare(got, want, K, 1.0);
  // Two float32 results, each within the rule of the double one, are within twice it of each other.
  const parity::Comparison vs_eigen = parity::compare(got, eigen, K, 2.0);
  INFO(std::string(cpu::fast::to_string(kernel)), " ", c.describe(), " seed ", seed, ": vs double ", vs_double.problem,
       " (ratio ", vs_double.ratio, "), vs Eigen ", vs_eigen.problem, " (ratio ", vs_eigen.ratio, ")");
  CHECK(vs_double.ok);
  CHECK(vs_eigen.ok);
  CHECK(padding_untouched(x.C));
}

Case random_case(Rng& rng, int64_t max_extent) {
  auto extent = [&] { return 1 + int64_t(rng.uniform() * double(max_extent)); };
  Case c;
  c.M = extent();
  c.N = extent();
  c.K = extent();
  c.pad_a = int64_t(rng.uniform() * 4);
  c.pad_b = int64_t(rng.uniform() * 4);
  c.pad_c = int64_t(rng.uniform() * 4);
  return c;
}

}  // namespace

TEST_CASE("sgemm matches the double product and Eigen for every kernel, transpose and edge") {
  for (GemmKernel kernel : kKernels) {
    if (!cpu::fast::gemm_kernel_supported(kernel)) {
      MESSAGE("skipped: this CPU cannot run the ", cpu::fast::to_string(kernel), " kernel");
      continue;
    }
    Rng rng(20261201);
    for (int layout = 0; layout < 4; ++layout)
      for (bool accumulate : {false, true}) {
        // Around the tile and reduction-block sizes of every kernel (8x48 kc 192, 6x16 kc 384), and random.
        std::vector<Case> cases;
        for (int64_t e : {1, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49})
          cases.push_back({.M = e, .N = e, .K = e});
        cases.push_back({.M = 15, .N = 33, .K = 193});
        cases.push_back({.M = 29, .N = 47, .K = 385, .pad_a = 1, .pad_b = 3, .pad_c = 2});
        cases.push_back({.M = 300, .N = 1, .K = 7});
        cases.push_back({.M = 1, .N = 300, .K = 250});
        for (int i = 0; i < 6; ++i) cases.push_back(random_case(rng, 300));
        for (Case& c : cases) {
          c.transpose_a = layout & 1;
          c.transpose_b = layout & 2;
          c.accumulate = accumulate;
          check_case(kernel, c, rng.next_u64());
        }
      }
  }
}

TEST_CASE("sgemm crosses every cache-block edge with small blockings") {
  for (GemmKernel kernel : kKernels) {
    if (!cpu::fast::gemm_kernel_supported(kernel)) continue;
    Rng rng(7);
    // mc and nc round up to whole tiles: 2 tiles of rows, 2 of columns, and an odd kc.
    const GemmBlocking small{.mc = 20, .kc = 37, .nc = 40};
    for (int layout = 0; layout < 4; ++layout)
      for (bool accumulate : {false, true})
        for (int i = 0; i < 4; ++i) {
          Case c = random_case(rng, 120);
          c.transpose_a = layout & 1;
          c.transpose_b = layout & 2;
          c.accumulate = accumulate;
          check_case(kernel, c, rng.next_u64(), small);
        }
  }
}

TEST_CASE("sgemm with K = 0 zeroes C, or leaves it when accumulating") {
  std::vector<float> C(6, 3.0f);
  const float unused = 0.0f;
  cpu::fast::sgemm(false, false, 2, 3, 0, &unused, 1, &unused, 3, C.data(), 3, true);
  CHECK(C == std::vector<float>(6, 3.0f));
  cpu::fast::sgemm(false, false, 2, 3, 0, &unused, 1, &unused, 3, C.data(), 3, false);
  CHECK(C == std::vector<float>(6, 0.0f));
}

TEST_CASE("sgemm_parallel matches the single-threaded product bit for bit, for either split") {
  for (GemmKernel kernel : kKernels) {
    if (!cpu::fast::gemm_kernel_supported(kernel)) continue;
    // Wide products split the columns, tall ones the rows; both with ragged ends.
    for (const Case& shape : {Case{.M = 37, .N = 301, .K = 211, .pad_c = 3}, Case{.M = 293, .N = 45, .K = 77},
                              Case{.transpose_a = true, .transpose_b = true, .M = 100, .N = 100, .K = 401,
                                   .pad_a = 2, .pad_b = 1, .accumulate = true}}) {
      Rng rng(99);
      Operands single(shape, rng);
      Operands threaded = single;
      cpu::fast::sgemm(shape.transpose_a, shape.transpose_b, shape.M, shape.N, shape.K, single.A.data.data(),
                       single.A.ld, single.B.data.data(), single.B.ld, single.C.data.data(), single.C.ld,
                       shape.accumulate, kernel);
      for (int threads : {2, 3}) {
        Operands run = threaded;
        cpu::fast::sgemm_parallel(threads, shape.transpose_a, shape.transpose_b, shape.M, shape.N, shape.K,
                                  run.A.data.data(), run.A.ld, run.B.data.data(), run.B.ld, run.C.data.data(),
                                  run.C.ld, shape.accumulate, kernel);
        INFO(std::string(cpu::fast::to_string(kernel)), " ", shape.describe(), " threads ", threads);
        CHECK(values(run.C) == values(single.C));
        CHECK(padding_untouched(run.C));
      }
    }
  }
}

TEST_CASE("sgemm_packed_a (op(A) packed once, op(B) by the caller or packed whole) matches sgemm bit for bit") {
  for (GemmKernel kernel : kKernels) {
    if (!cpu::fast::gemm_kernel_supported(kernel)) continue;
    // Past the reduction block (kc 192 / 384) and the column block (nc 1344 / 672), ragged everywhere.
    for (const Case& shape : {Case{.M = 13, .N = 1400, .K = 400, .pad_a = 1, .pad_c = 2},
                              Case{.transpose_a = true, .M = 70, .N = 75, .K = 193, .pad_a = 3, .accumulate = true},
                              Case{.transpose_b = true, .M = 1, .N = 49, .K = 5, .pad_b = 2},
                              Case{.transpose_a = true, .transpose_b = true, .M = 64, .N = 700, .K = 577}}) {
      Rng rng(5);
      Operands reference(shape, rng);
      Operands prepacked = reference;
      cpu::fast::sgemm(shape.transpose_a, shape.transpose_b, shape.M, shape.N, shape.K, reference.A.data.data(),
                       reference.A.ld, reference.B.data.data(), reference.B.ld, reference.C.data.data(),
                       reference.C.ld, shape.accumulate, kernel);
      for (int threads : {1, 2}) {
        Operands run = prepacked;
        const cpu::fast::PackedA A(shape.transpose_a, shape.M, shape.K, run.A.data.data(), run.A.ld, threads, kernel);
        cpu::fast::sgemm_packed_a(
            A, shape.N,
            [&](float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
              cpu::fast::pack_b_panels(panels, run.B.data.data(), run.B.ld, shape.transpose_b, k0, kc, j0, nc, NR);
            },
            run.C.data.data(), run.C.ld, shape.accumulate);
        INFO(std::string(cpu::fast::to_string(kernel)), " ", shape.describe(), " packed by ", threads, " threads");
        CHECK(values(run.C) == values(reference.C));
        CHECK(padding_untouched(run.C));
        // op(B) packed whole beforehand (pack_b_whole), as the data gradient shares it between products
        Operands whole = prepacked;
        const std::size_t bytes = sizeof(float) * std::size_t(cpu::fast::packed_b_size(kernel, shape.K, shape.N));
        std::unique_ptr<float, decltype(&std::free)> packed_b(
            static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), &std::free);
        cpu::fast::pack_b_whole(packed_b.get(), kernel, shape.K, shape.N, whole.B.data.data(), whole.B.ld,
                                shape.transpose_b);
        cpu::fast::sgemm_packed_a(A, 0, shape.M, shape.N, packed_b.get(), whole.C.data.data(), whole.C.ld,
                                  shape.accumulate);
        CHECK(values(whole.C) == values(reference.C));
        CHECK(padding_untouched(whole.C));
      }
      // op(A) written element by element into the packed layout (as Winograd's filter transform does), over
      // storage that last held NaN: an element out of its place, or one left unwritten, shows in C
      {
        const std::vector<float> nan(std::size_t(shape.M * shape.K), std::numeric_limits<float>::quiet_NaN());
        const cpu::fast::PackedA poisoned(false, shape.M, shape.K, nan.data(), shape.K, 1, kernel);
      }
      cpu::fast::PackedA by_element(shape.M, shape.K, kernel);
      for (int64_t i = 0; i < shape.M; ++i)
        for (int64_t k = 0; k < shape.K; ++k)
          by_element.data()[by_element.offset(i, k)] = float(prepacked.op_a(shape, i, k));
      Operands run = prepacked;
      cpu::fast::sgemm_packed_a(
          by_element, shape.N,
          [&](float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
            cpu::fast::pack_b_panels(panels, run.B.data.data(), run.B.ld, shape.transpose_b, k0, kc, j0, nc, NR);
          },
          run.C.data.data(), run.C.ld, shape.accumulate);
      INFO(std::string(cpu::fast::to_string(kernel)), " ", shape.describe(), " written by element");
      CHECK(values(run.C) == values(reference.C));
    }
  }
}
