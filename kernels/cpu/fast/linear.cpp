// Fast fully connected layer: Eigen GEMM on row-major views, each thread owning a block of output
// columns (so no reduction crosses threads).
#include <omp.h>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {
// Products smaller than this many multiply-adds run on one thread.
constexpr double kGemmGrain = 1 << 18;
int gemm_threads(double multiply_adds) { return multiply_adds < kGemmGrain ? 1 : kernel_threads(); }
}  // namespace

// inp (N,I), weight (O,I), bias (O) or null, out (N,O) = inp * weight^T + bias
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O) {
  const int threads = gemm_threads(double(N) * I * O);
  const bool split_rows = N > O;  // give each thread the longer side
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    const Range rows = split_rows ? split(N, team, t) : Range{0, N};
    const Range cols = split_rows ? Range{0, O} : split(O, team, t, 16);
    if (rows.size() > 0 && cols.size() > 0) {
      auto y = matrix(out + rows.begin * O + cols.begin, rows.size(), cols.size(), O);
      if (bias)
        y = Eigen::Map<const Eigen::RowVectorXf>(bias + cols.begin, cols.size()).replicate(rows.size(), 1);
      else
        y.setZero();
      y.noalias() += matrix(inp + rows.begin * I, rows.size(), I, I) *
                     matrix(weight + cols.begin * I, cols.size(), I, I).transpose();
    }
  }
}

// dinp (N,I) overwritten (may be null) = dout * weight; dweight (O,I) += dout^T * inp; dbias (O) += column
// sums of dout. Threads own blocks of the I axis; the first thread also sums dbias.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int I, int O) {
  const int threads = gemm_threads(double(N) * I * O);
  const auto dy = matrix(dout, N, O, O);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const Range cols = split(I, omp_get_num_threads(), t, 16);
    if (cols.size() > 0) {
      if (dinp)
        matrix(dinp + cols.begin, N, cols.size(), I).noalias() = dy * matrix(weight + cols.begin, O, cols.size(), I);
      matrix(dweight + cols.begin, O, cols.size(), I).noalias() +=
          dy.transpose() * matrix(inp + cols.begin, N, cols.size(), I);
    }
    if (dbias && t == 0)
      for (int o = 0; o < O; ++o) dbias[o] += dy.col(o).sum();
  }
}

}  // namespace keynet::cpu::fast
