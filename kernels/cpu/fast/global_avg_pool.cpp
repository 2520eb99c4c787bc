// Fast global average pool, threaded over (n, c) planes; sums in double.
#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

// inp (N,C,HW) -> out (N,C)
void global_avg_pool_forward(float* out, const float* inp, int planes, int HW) {
#pragma omp parallel for schedule(static) num_threads(threads_for(int64_t(planes) * HW))
  for (int plane = 0; plane < planes; ++plane) {
    const float* x = inp + int64_t(plane) * HW;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < HW; ++i) sum += x[i];
    out[plane] = float(sum / HW);
  }
}

// dinp (N,C,HW) overwritten: every element gets dout / HW
void global_avg_pool_backward(float* dinp, const float* dout, int planes, int HW) {
#pragma omp parallel for schedule(static) num_threads(threads_for(int64_t(planes) * HW))
  for (int plane = 0; plane < planes; ++plane) {
    const float g = dout[plane] / float(HW);
    float* dx = dinp + int64_t(plane) * HW;
    for (int i = 0; i < HW; ++i) dx[i] = g;
  }
}

}  // namespace keynet::cpu::fast
