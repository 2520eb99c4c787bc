// Fast ReLU and residual add: vectorised elementwise loops, threaded when large. ReLU propagates NaN as
// kernels/cpu/ref/relu.h does (the comparisons are written `<= 0` so that NaN takes the other branch).
#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

// out (n) = max(inp, 0), NaN kept
void relu_forward(float* out, const float* inp, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) out[i] = inp[i] <= 0.0f ? 0.0f : inp[i];
}

// dinp (n) overwritten: dout where out > 0 or out is NaN, else 0
void relu_backward(float* dinp, const float* dout, const float* out, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) dinp[i] = out[i] <= 0.0f ? 0.0f : dout[i];
}

// out (n) = a + b; out may alias a or b (each element is read before it is written)
void add(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(n))
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace keynet::cpu::fast
