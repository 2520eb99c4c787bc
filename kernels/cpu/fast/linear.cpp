// Fast fully connected layer: our GEMM (gemm.h) on the row-major matrices, split over threads by
// sgemm_parallel (each thread owns a block of output rows or columns, so no sum crosses threads).
#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/gemm.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {
// Products smaller than this many multiply-adds run on one thread.
constexpr double kGemmGrain = 1 << 18;
int gemm_threads(double multiply_adds) { return multiply_adds < kGemmGrain ? 1 : kernel_threads(); }
}  // namespace

// inp (N,I), weight (O,I), bias (O) or null, out (N,O) = inp * weight^T + bias
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O) {
  if (bias)
    for (int n = 0; n < N; ++n) std::copy(bias, bias + O, out + int64_t(n) * O);
  sgemm_parallel(gemm_threads(double(N) * I * O), false, true, N, O, I, inp, I, weight, I, out, O, bias != nullptr);
}

// dinp (N,I) overwritten (may be null) = dout * weight; dweight (O,I) += dout^T * inp; dbias (O) += column
// sums of dout.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int I, int O) {
  const int threads = gemm_threads(double(N) * I * O);
  if (dinp) sgemm_parallel(threads, false, false, N, I, O, dout, O, weight, I, dinp, I, false);
  sgemm_parallel(threads, true, false, O, I, N, dout, O, inp, I, dweight, I, true);
  if (dbias)
    for (int o = 0; o < O; ++o) {
      float sum = 0.0f;
      for (int n = 0; n < N; ++n) sum += dout[int64_t(n) * O + o];
      dbias[o] += sum;
    }
}

}  // namespace keynet::cpu::fast
