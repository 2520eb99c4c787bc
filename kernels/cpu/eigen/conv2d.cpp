// Convolution on Eigen's GEMM (the CPU vendor path): one image at a time, each thread a static share of
// the batch.
//
// inp (N,C,H,W), weight (K,C,R,S) viewed as W (K, CRS), out (N,K,P,Q) viewed per image as (K, PQ);
// col (CRS, PQ) holds, for every output position, the input patch it sees (zeros for padding).
//   forward:         out_n  = W * col_n (+ bias)
//   backward data:   dcol_n = W^T * dout_n, then col2im sums dcol back onto dinp_n (overwritten)
//   backward weight: dW += dout_n * col_n^T, dbias += row sums of dout_n (per-thread partials, added in
//                    thread order, so that a fixed thread count repeats bit for bit)
#include <omp.h>

#include <algorithm>

#include "kernels/cpu/eigen/common.h"
#include "kernels/cpu/eigen/eigen.h"

namespace keynet::cpu::eigen {

namespace {

struct Geometry {
  int64_t P, Q, PQ, HW, CRS;
  explicit Geometry(const ops::ConvDesc& d)
      : P(d.P()), Q(d.Q()), PQ(P * Q), HW(int64_t(d.H) * d.W), CRS(int64_t(d.C) * d.R * d.S) {}
};

// A 1x1 stride-1 unpadded convolution's column matrix is the image itself.
bool is_pointwise(const ops::ConvDesc& d) { return d.R == 1 && d.S == 1 && d.stride == 1 && d.pad == 0; }

// The input pixel under output (p, q) for kernel tap (r, s), or -1 in the padding.
int64_t input_index(const ops::ConvDesc& d, int64_t p, int64_t q, int r, int s) {
  const int64_t h = p * d.stride - d.pad + r, w = q * d.stride - d.pad + s;
  return h < 0 || h >= d.H || w < 0 || w >= d.W ? -1 : h * d.W + w;
}

void im2col(float* col, const float* image, const ops::ConvDesc& d, const Geometry& g) {
  for (int c = 0; c < d.C; ++c)
    for (int r = 0; r < d.R; ++r)
      for (int s = 0; s < d.S; ++s) {
        const float* plane = image + c * g.HW;
        for (int64_t p = 0; p < g.P; ++p)
          for (int64_t q = 0; q < g.Q; ++q) {
            const int64_t at = input_index(d, p, q, r, s);
            *col++ = at < 0 ? 0.0f : plane[at];
          }
      }
}

void col2im(float* image_grad, const float* dcol, const ops::ConvDesc& d, const Geometry& g) {
  std::fill(image_grad, image_grad + d.C * g.HW, 0.0f);
  for (int c = 0; c < d.C; ++c)
    for (int r = 0; r < d.R; ++r)
      for (int s = 0; s < d.S; ++s) {
        float* plane = image_grad + c * g.HW;
        for (int64_t p = 0; p < g.P; ++p)
          for (int64_t q = 0; q < g.Q; ++q, ++dcol) {
            const int64_t at = input_index(d, p, q, r, s);
            if (at >= 0) plane[at] += *dcol;
          }
      }
}

// image n's column matrix: the image itself for pointwise convolutions, else built in `buffer`
const float* columns(float* buffer, const float* inp, int n, const ops::ConvDesc& d, const Geometry& g) {
  const float* image = inp + int64_t(n) * d.C * g.HW;
  if (is_pointwise(d)) return image;
  im2col(buffer, image, d, g);
  return buffer;
}

}  // namespace

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ops::ConvDesc& d) {
  const Geometry g(d);
  const auto W = matrix(weight, d.K, g.CRS, g.CRS);
#pragma omp parallel for schedule(static) num_threads(eigen_threads())
  for (int n = 0; n < d.N; ++n) {
    const auto col = matrix(columns(scratch(0, g.CRS * g.PQ), inp, n, d, g), g.CRS, g.PQ, g.PQ);
    auto y = matrix(out + int64_t(n) * d.K * g.PQ, d.K, g.PQ, g.PQ);
    y.noalias() = W * col;
    if (bias)
      for (int k = 0; k < d.K; ++k) y.row(k).array() += bias[k];
  }
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::ConvDesc& d) {
  const Geometry g(d);
  const int threads = eigen_threads();
  const int64_t weight_size = d.K * g.CRS, partial_size = weight_size + d.K;
  std::vector<float> partials(static_cast<std::size_t>(partial_size * threads), 0.0f);
  const auto W = matrix(weight, d.K, g.CRS, g.CRS);
#pragma omp parallel num_threads(threads)
  {
    float* partial = partials.data() + partial_size * omp_get_thread_num();
    auto dW = matrix(partial, d.K, g.CRS, g.CRS);
#pragma omp for schedule(static)
    for (int n = 0; n < d.N; ++n) {
      const auto dy = matrix(dout + int64_t(n) * d.K * g.PQ, d.K, g.PQ, g.PQ);
      const auto col = matrix(columns(scratch(0, g.CRS * g.PQ), inp, n, d, g), g.CRS, g.PQ, g.PQ);
      dW.noalias() += dy * col.transpose();
      for (int k = 0; k < d.K; ++k) partial[weight_size + k] += dy.row(k).sum();
      if (!dinp) continue;
      float* dinp_n = dinp + int64_t(n) * d.C * g.HW;
      if (is_pointwise(d)) {
        matrix(dinp_n, d.C, g.HW, g.HW).noalias() = W.transpose() * dy;
      } else {
        float* dcol = scratch(1, g.CRS * g.PQ);
        matrix(dcol, g.CRS, g.PQ, g.PQ).noalias() = W.transpose() * dy;
        col2im(dinp_n, dcol, d, g);
      }
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < (dbias ? partial_size : weight_size); ++i) {
      float sum = 0.0f;
      for (int t = 0; t < threads; ++t) sum += partials[static_cast<std::size_t>(partial_size * t + i)];
      if (i < weight_size)
        dweight[i] += sum;
      else
        dbias[i - weight_size] += sum;
    }
  }
}

}  // namespace keynet::cpu::eigen
