// Fast soft-argmax forward (kernels/cpu/ref/soft_argmax.h is the specification), threaded over the N*K
// maps. Each map is one thread's, in a fixed order, so the results do not depend on the thread count.
// Three passes over a map: its max, then exp with the three sums (in double: the mass, and the mass
// times each coordinate), then the normalisation. The point is the ratio of the sums, which equals
// sum p * centre without a fourth pass.
#include <cmath>

#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/ref/soft_argmax.h"

namespace keynet::cpu::fast {

// inp, probs (N,K,H,W), out (N,2K)
void soft_argmax2d_forward(float* out, float* probs, const float* inp, const ops::SoftArgmaxDesc& d) {
  const int H = d.H, W = d.W, HW = H * W, maps = d.N * d.K;
  const float beta = float(d.beta);
#pragma omp parallel for schedule(static) num_threads(threads_for(int64_t(maps) * HW))
  for (int map = 0; map < maps; ++map) {
    const float* score = inp + int64_t(map) * HW;
    float* p = probs + int64_t(map) * HW;
    const float top = ref::max_or_nan(score, HW);  // NaN kept: the sums below turn it into a NaN map
    double sum = 0.0, sum_x = 0.0, sum_y = 0.0;
    for (int i = 0; i < H; ++i) {
      double row = 0.0, row_x = 0.0;
      for (int j = 0; j < W; ++j) {
        const float e = std::exp(beta * (score[i * W + j] - top));
        p[i * W + j] = e;
        row += e;
        row_x += double(e) * ref::cell_centre<double>(j, W);
      }
      sum += row;
      sum_x += row_x;
      sum_y += row * ref::cell_centre<double>(i, H);
    }
    const float scale = float(1.0 / sum);
    for (int c = 0; c < HW; ++c) p[c] *= scale;
    out[2 * map] = float(sum_x / sum);
    out[2 * map + 1] = float(sum_y / sum);
  }
}

}  // namespace keynet::cpu::fast
