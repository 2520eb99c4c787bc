// Fast convolution as GEMMs, threaded over images (or over output columns when the batch is smaller than
// the thread count); 3x3 stride-1 shapes where it pays go to Winograd instead (winograd.h), and stride-1
// shapes with few channels to the direct convolution (direct_conv.h). 1x1 stride-1 unpadded convolutions
// use the image as the column matrix directly.
//
// inp (N,C,H,W), weight (K,C,R,S) viewed as W (K, CRS), out (N,K,P,Q) viewed per image as (K, PQ);
// col (CRS, PQ) holds, for every output position, the input patch it sees (zeros for padding).
//   forward:         out_n  = W * col_n (+ bias)
//   backward data:   dcol_n = W^T * dout_n, then col2im sums dcol back onto dinp_n (overwritten)
//   backward weight: dW += dout_n * col_n^T, dbias += row sums of dout_n (accumulated)
// All three run on our GEMM (gemm.h). The forward pass and the data gradient pack W (or W^T) once per
// call for all images; the forward pass gathers col straight into the GEMM's packed panels
// (pack_columns), so the column matrix is never written out. The data gradient builds dcol in slices of
// input channels that fit in L2 and sums each slice back at once; dout is packed once for all slices.
// The weight gradient's B = col^T runs along the reduction the wrong way for the GEMM's panels: each
// block (kc output positions by nc rows of col) is built by im2col into a small buffer and packed
// transposed, 8x8 at a time in registers.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/cpu/fast/direct_conv.h"
#include "kernels/cpu/fast/fast.h"
#include "kernels/cpu/fast/gemm.h"
#include "kernels/cpu/fast/parallel.h"
#include "kernels/cpu/fast/winograd.h"

namespace keynet::cpu::fast {

namespace {

struct Geometry {
  int64_t P, Q, PQ, HW, CRS, RS;
  explicit Geometry(const ops::ConvDesc& d)
      : P(d.P()), Q(d.Q()), PQ(P * Q), HW(int64_t(d.H) * d.W), CRS(int64_t(d.C) * d.R * d.S),
        RS(int64_t(d.R) * d.S) {}
};

bool is_pointwise(const ops::ConvDesc& d) { return d.R == 1 && d.S == 1 && d.stride == 1 && d.pad == 0; }

// Output indices o in [0, count) whose input index o * stride - pad + offset lies inside [0, size).
Range valid_outputs(int64_t count, int stride, int pad, int offset, int size) {
  const int64_t first = std::max<int64_t>(0, (pad - offset + stride - 1) / stride);
  const int64_t last_input = int64_t(size) - 1 + pad - offset;  // o * stride <= last_input
  const int64_t end = last_input < 0 ? 0 : std::min<int64_t>(count, last_input / stride + 1);
  return {std::min(first, end), end};
}

// dst[i] = src[i * stride] for i < n. Stride 2 (the stems and downsampling convolutions) picks the even
// elements of 32 loaded values with one permute on AVX-512; the loads are masked so that nothing past
// src[(n - 1) * 2] is touched.
__attribute__((target("avx512f"))) void copy_stride2_avx512(float* dst, const float* src, int64_t n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = std::min<int64_t>(16, n - i), span = 2 * left - 1;  // source values needed
    const __m512 a = _mm512_maskz_loadu_ps(first_lanes(span), src + 2 * i);
    const __m512 b = _mm512_maskz_loadu_ps(first_lanes(span - 16), src + 2 * i + 16);
    _mm512_mask_storeu_ps(dst + i, first_lanes(left), _mm512_permutex2var_ps(a, even, b));
  }
}

// The same on AVX2: the even elements of 16 loaded values by one shuffle within 128-bit lanes and one permute
// across them; 8 outputs read src up to 2 i + 15, so the last few go one by one.
__attribute__((target("avx2"))) void copy_stride2_avx2(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 9 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(src + 2 * i), b = _mm256_loadu_ps(src + 2 * i + 8);
    const __m256d even = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88));  // a0 a2 b0 b2 | a4 a6 b4 b6
    _mm256_storeu_ps(dst + i, _mm256_castpd_ps(_mm256_permute4x64_pd(even, 0xD8)));  // a0 a2 a4 a6 b0 ...
  }
  for (; i < n; ++i) dst[i] = src[2 * i];
}

__attribute__((always_inline)) inline void copy_strided(float* dst, const float* src, int64_t n, int stride) {
  static const bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
  if (stride == 1)
    std::memcpy(dst, src, sizeof(float) * n);
  else if (stride == 2 && avx512)
    copy_stride2_avx512(dst, src, n);
  else if (stride == 2 && avx2)
    copy_stride2_avx2(dst, src, n);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
}

// Rows [row0, row1) and columns [j0, j1) of one image's column matrix, into col with row stride ld.
void im2col(float* col, int64_t ld, const float* image, const ops::ConvDesc& d, const Geometry& g, int64_t row0,
            int64_t row1, int64_t j0, int64_t j1) {
  for (int64_t row = row0; row < row1; ++row) {
    const int c = int(row / g.RS), r = int(row / d.S % d.R), s = int(row % d.S);
    const float* plane = image + c * g.HW;
    const Range qs = valid_outputs(g.Q, d.stride, d.pad, s, d.W);
    float* dst = col + (row - row0) * ld;
    for (int64_t j = j0; j < j1;) {
      const int64_t p = j / g.Q, q0 = j % g.Q, q1 = std::min(g.Q, q0 + (j1 - j));
      const int64_t h = p * d.stride - d.pad + r;
      if (h < 0 || h >= d.H) {
        std::fill(dst, dst + (q1 - q0), 0.0f);
      } else {
        const int64_t base = h * d.W - d.pad + s;  // plane[base + q * stride] is the input under output q
        const int64_t lo = std::clamp(qs.begin, q0, q1), hi = std::clamp(qs.end, lo, q1);
        std::fill(dst, dst + (lo - q0), 0.0f);
        copy_strided(dst + (lo - q0), plane + base + lo * d.stride, hi - lo, d.stride);
        std::fill(dst + (hi - q0), dst + (q1 - q0), 0.0f);
      }
      dst += q1 - q0;
      j += q1 - q0;
    }
  }
}

// Channels [c0, c1) of one image's input gradient (overwritten) from their rows of the column gradient:
// dcol ((c1 - c0) * RS rows of PQ values, row stride ld) starts at channel c0's first row.
void col2im(float* image_grad, const float* dcol, int64_t ld, const ops::ConvDesc& d, const Geometry& g, int c0,
            int c1) {
  for (int c = c0; c < c1; ++c) {
    float* plane = image_grad + c * g.HW;
    std::fill(plane, plane + g.HW, 0.0f);
    for (int r = 0; r < d.R; ++r) {
      const Range ps = valid_outputs(g.P, d.stride, d.pad, r, d.H);
      for (int s = 0; s < d.S; ++s) {
        const Range qs = valid_outputs(g.Q, d.stride, d.pad, s, d.W);
        const float* src_row = dcol + ((int64_t(c - c0) * d.R + r) * d.S + s) * ld;
        for (int64_t p = ps.begin; p < ps.end; ++p) {
          const int64_t base = (p * d.stride - d.pad + r) * d.W - d.pad + s;  // input under output (p, 0)
          const float* src = src_row + p * g.Q;
          if (d.stride == 1)
            for (int64_t q = qs.begin; q < qs.end; ++q) plane[base + q] += src[q];
          else
            for (int64_t q = qs.begin; q < qs.end; ++q) plane[base + q * d.stride] += src[q];
        }
      }
    }
  }
}

// Input channels per slice of the column matrix (slice_channels * RS rows by `columns` columns), so that
// a slice fits comfortably in a core's L2 cache.
int64_t slice_channels(const Geometry& g, int64_t columns) {
  constexpr int64_t kSliceBytes = 768 << 10;
  const int64_t channels = kSliceBytes / (int64_t(sizeof(float)) * g.RS * columns);
  return std::max<int64_t>(1, channels);
}

// A unit of work: images [first, first + count) and, of each, output columns cols. Either one image (or
// a block of its columns, when there are fewer images than threads), or several whole images side by
// side when an image alone has too few output positions for an efficient GEMM.
struct WorkItem {
  int64_t first, count;
  Range cols;
  int64_t width() const { return count * cols.size(); }  // columns of the item's GEMMs
};

// GEMMs narrower than this many columns are widened by putting several images side by side.
constexpr int64_t kMinGemmColumns = 256;

struct WorkPlan {
  int N = 0;
  int64_t PQ = 0;
  int parts = 1;       // column blocks per image, when items are single images
  int64_t groups = 0;  // when > 0: items are this many groups of whole images
  int64_t count() const { return groups > 0 ? groups : int64_t(N) * parts; }
  WorkItem item(int64_t i) const {
    if (groups > 0) {
      const Range images = split(N, int(groups), int(i));
      return {images.begin, images.size(), {0, PQ}};
    }
    return {i / parts, 1, split(PQ, parts, int(i % parts), 16)};
  }
};

// Items for `threads` threads: the count is a multiple of the thread count so that a static schedule
// shares them out evenly. `column_blocks` allows cutting images into column blocks when there are fewer
// images than threads; otherwise each item holds at least one whole image.
WorkPlan plan_work(const ops::ConvDesc& d, const Geometry& g, int threads, bool column_blocks) {
  WorkPlan plan;
  plan.N = d.N;
  plan.PQ = g.PQ;
  const int64_t images_per_gemm = (kMinGemmColumns + g.PQ - 1) / g.PQ;
  if (!is_pointwise(d) && images_per_gemm > 1 && d.N >= 2 * threads) {
    plan.groups = int64_t(threads) * std::max<int64_t>(1, d.N / (int64_t(threads) * images_per_gemm));
  } else if (column_blocks) {
    plan.parts = threads / std::gcd(d.N, threads);
  }
  return plan;
}

// Output-shaped blocks (K, PQ) of images [first, first + count) side by side into group (K, count * PQ).
void gather_images(float* group, const float* tensor, const WorkItem& w, int K, int64_t PQ) {
  for (int64_t i = 0; i < w.count; ++i)
    for (int k = 0; k < K; ++k)
      std::memcpy(group + k * w.count * PQ + i * PQ, tensor + ((w.first + i) * K + k) * PQ, sizeof(float) * PQ);
}

// The inverse of gather_images, adding bias (K, may be null) on the way.
void scatter_images(float* tensor, const float* group, const float* bias, const WorkItem& w, int K, int64_t PQ) {
  for (int64_t i = 0; i < w.count; ++i)
    for (int k = 0; k < K; ++k) {
      float* dst = tensor + ((w.first + i) * K + k) * PQ;
      const float* src = group + k * w.count * PQ + i * PQ;
      const float b = bias ? bias[k] : 0.0f;
      for (int64_t j = 0; j < PQ; ++j) dst[j] = src[j] + b;
    }
}

// Rows [row0, row1) and columns [j0, j1) of work item w's column matrix (its images' columns side by side)
// into col with row stride ld.
void im2col_columns(float* col, int64_t ld, const float* inp, const WorkItem& w, const ops::ConvDesc& d,
                    const Geometry& g, int64_t row0, int64_t row1, int64_t j0, int64_t j1) {
  const int64_t image_cols = w.cols.size();
  for (int64_t i = j0 / image_cols; i < w.count && i * image_cols < j1; ++i) {
    const int64_t begin = std::max(j0, i * image_cols), end = std::min(j1, (i + 1) * image_cols);
    const int64_t local = w.cols.begin - i * image_cols;  // item column j is column j + local of image i
    im2col(col + (begin - j0), ld, inp + (w.first + i) * d.C * g.HW, d, g, row0, row1, begin + local, end + local);
  }
}

// Rows [k0, k0 + kc) and columns [j0, j0 + nc) of work item w's column matrix, gathered from the images
// straight into the GEMM's panels of NR columns (see PackB in gemm.h), so that the matrix is never
// written out whole.
void pack_columns(float* panels, const float* inp, const WorkItem& w, const ops::ConvDesc& d, const Geometry& g,
                  int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
  const int64_t image_cols = w.cols.size();
  // where column j0 lies: image, output row p and column q; the walk below advances these without dividing
  const int64_t first_image = j0 / image_cols, first_local = w.cols.begin + j0 % image_cols;
  for (int64_t row = k0; row < k0 + kc; ++row) {
    const int c = int(row / g.RS), r = int(row / d.S % d.R), s = int(row % d.S);
    const Range qs = valid_outputs(g.Q, d.stride, d.pad, s, d.W);
    int64_t image = first_image, local = first_local, p = local / g.Q, q = local % g.Q, in_panel = 0;
    float* panel = panels + (row - k0) * NR;  // this row of the current panel; panels lie NR * kc apart
    for (int64_t left = nc; left > 0;) {
      const int64_t run = std::min({g.Q - q, NR - in_panel, left, w.cols.end - local});
      float* dst = panel + in_panel - q;  // dst[q'] for output column q'
      const int64_t q_end = q + run, h = p * d.stride - d.pad + r;
      if (h < 0 || h >= d.H) {
        std::fill(dst + q, dst + q_end, 0.0f);
      } else {
        const float* x = inp + ((w.first + image) * d.C + c) * g.HW + h * d.W - d.pad + s;  // x[q' * stride]
        const int64_t lo = std::clamp(qs.begin, q, q_end), hi = std::clamp(qs.end, lo, q_end);
        std::fill(dst + q, dst + lo, 0.0f);
        copy_strided(dst + lo, x + lo * d.stride, hi - lo, d.stride);
        std::fill(dst + hi, dst + q_end, 0.0f);
      }
      left -= run;
      in_panel += run;
      if (in_panel == NR) {
        in_panel = 0;
        panel += NR * kc;
      }
      local += run;
      q = q_end;
      if (local == w.cols.end) {  // next image of the group, from its first column
        ++image;
        local = w.cols.begin;
        p = local / g.Q;
        q = local % g.Q;
      } else if (q == g.Q) {
        q = 0;
        ++p;
      }
    }
  }
  const int64_t tail = nc % NR;  // the last panel's columns past nc
  if (tail > 0) {
    float* last = panels + nc / NR * NR * kc;
    for (int64_t k = 0; k < kc; ++k) std::fill(last + k * NR + tail, last + (k + 1) * NR, 0.0f);
  }
}

}  // namespace

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ops::ConvDesc& d) {
  if (uses_winograd(d, ConvDirection::forward)) return winograd_conv2d_forward(out, inp, weight, bias, d);
  if (uses_direct(d, ConvDirection::forward)) return direct_conv2d_forward(out, inp, weight, bias, d);
  const Geometry g(d);
  const int threads = kernel_threads();
  const WorkPlan plan = plan_work(d, g, threads, true);
  const bool pointwise = is_pointwise(d);
  const PackedA W(false, d.K, g.CRS, weight, g.CRS, threads);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < plan.count(); ++i) {
    const WorkItem w = plan.item(i);
    if (w.cols.size() == 0) continue;
    const int64_t width = w.width();
    // A single image's block is computed in place; a group goes through a (K, width) buffer.
    const bool in_place = w.count == 1;
    float* target = in_place ? out + w.first * d.K * g.PQ + w.cols.begin : scratch(3, d.K * width);
    const int64_t ldc = in_place ? g.PQ : width;
    const bool bias_here = bias && in_place;
    if (bias_here)
      for (int k = 0; k < d.K; ++k) std::fill(target + k * ldc, target + k * ldc + width, bias[k]);
    const float* image = inp + w.first * d.C * g.HW + w.cols.begin;
    if (pointwise)
      sgemm_packed_a(W, width, [&](float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
        pack_b_panels(panels, image, g.HW, false, k0, kc, j0, nc, NR);
      }, target, ldc, bias_here);
    else
      sgemm_packed_a(W, width, [&](float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
        pack_columns(panels, inp, w, d, g, k0, kc, j0, nc, NR);
      }, target, ldc, bias_here);
    if (!in_place) scatter_images(out, target, bias, w, d.K, g.PQ);
  }
}

namespace {

// dweight += sum_n dout_n * col_n^T and dbias += row sums of dout_n. Each thread sums its work items into
// a private partial; the partials are then added in thread order, so the result repeats bit for bit.
void conv2d_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp,
                            const ops::ConvDesc& d, const Geometry& g, int threads) {
  const WorkPlan plan = plan_work(d, g, threads, true);
  const bool pointwise = is_pointwise(d);
  const int64_t weight_size = d.K * g.CRS, partial_size = weight_size + d.K;
  float* partials = scratch(1, partial_size * threads);
#pragma omp parallel num_threads(threads)
  {
    float* partial = partials + partial_size * omp_get_thread_num();
    float* db = partial + weight_size;
    bool empty = true;  // the first product assigns the partial, later ones add to it
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < plan.count(); ++i) {
      const WorkItem w = plan.item(i);
      if (w.cols.size() == 0) continue;
      const int64_t width = w.width();
      const float* dy = dout + w.first * d.K * g.PQ + w.cols.begin;
      int64_t dy_stride = g.PQ;
      if (w.count > 1) {
        float* group = scratch(3, d.K * width);
        gather_images(group, dout, w, d.K, g.PQ);
        dy = group;
        dy_stride = width;
      }
      if (dbias)
        for (int k = 0; k < d.K; ++k) db[k] = (empty ? 0.0f : db[k]) + sum_of(dy + k * dy_stride, width);
      const float* image = inp + w.first * d.C * g.HW + w.cols.begin;
      sgemm_pack_b(false, d.K, g.CRS, width, dy, dy_stride,
                   [&](float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
                     if (pointwise) return pack_b_panels(panels, image, g.HW, true, k0, kc, j0, nc, NR);
                     // rows [j0, j0 + nc) of the column matrix, columns [k0, k0 + kc), then packed transposed
                     float* block = scratch(0, nc * kc);
                     im2col_columns(block, kc, inp, w, d, g, j0, j0 + nc, k0, k0 + kc);
                     pack_b_panels(panels, block, kc, true, 0, kc, 0, nc, NR);
                   },
                   partial, g.CRS, !empty);
      empty = false;
    }
    if (empty) std::fill(partial, partial + partial_size, 0.0f);
    add_partials_in_thread_order(dweight, dbias, partials, weight_size, partial_size);
  }
}

// dinp (overwritten) from dcol = W^T * dout. Whole images (or groups of them) per thread when the batch
// covers the threads; otherwise the threads share each image: the GEMM by column blocks, col2im by
// channels.
void conv2d_backward_data(float* dinp, const float* dout, const float* weight, const ops::ConvDesc& d,
                          const Geometry& g, int threads) {
  const bool pointwise = is_pointwise(d);
  const PackedA Wt(true, g.CRS, d.K, weight, g.CRS, threads);  // W^T (CRS, K)
  // dcol (or dinp, for pointwise) rows [row0, row0 + rows) and columns [0, width) of one item, from
  // dout (K, width) with row stride ld
  const auto product = [&](float* target, int64_t ld_target, int64_t row0, int64_t rows, const float* dy,
                           int64_t ld, int64_t width) {
    sgemm_packed_a(Wt, row0, rows, width, [&](float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
      pack_b_panels(panels, dy, ld, false, k0, kc, j0, nc, NR);
    }, target, ld_target, false);
  };
  if (d.N >= threads) {
    const WorkPlan plan = plan_work(d, g, threads, false);
    // slices of whole channels whose rows start on the GEMM's tiles
    const int64_t tile = tile_rows(Wt.kernel()), align = tile / std::gcd(tile, g.RS);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < plan.count(); ++i) {
      const WorkItem w = plan.item(i);
      const int64_t width = w.width();
      if (pointwise) {
        product(dinp + w.first * d.C * g.HW, g.HW, 0, g.CRS, dout + w.first * d.K * g.PQ, g.PQ, g.PQ);
        continue;
      }
      const float* dy = dout + w.first * d.K * g.PQ;
      if (w.count > 1) {
        float* group = scratch(3, d.K * width);
        gather_images(group, dout, w, d.K, g.PQ);
        dy = group;
      }
      // one cache-sized slice of input channels at a time: dcol_slice = W[:, slice]^T * dout, then col2im;
      // dout is packed once for all the slices
      float* packed_dy = scratch(0, packed_b_size(Wt.kernel(), d.K, width));
      pack_b_whole(packed_dy, Wt.kernel(), d.K, width, dy, width, false);
      const int64_t channels = std::max(align, slice_channels(g, width) / align * align), slice_rows = channels * g.RS;
      float* dcol = scratch(2, slice_rows * width);
      for (int64_t c0 = 0; c0 < d.C; c0 += channels) {
        const int64_t c1 = std::min<int64_t>(d.C, c0 + channels), rows = (c1 - c0) * g.RS;
        sgemm_packed_a(Wt, c0 * g.RS, rows, width, packed_dy, dcol, width, false);
        for (int64_t n = 0; n < w.count; ++n)
          col2im(dinp + (w.first + n) * d.C * g.HW, dcol + n * g.PQ, width, d, g, int(c0), int(c1));
      }
    }
    return;
  }
  float* shared_dcol = pointwise ? nullptr : scratch(2, g.CRS * g.PQ);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    const Range cols = split(g.PQ, team, t, 16);
    const Range channels = split(d.C, team, t);
    for (int n = 0; n < d.N; ++n) {
      const float* dout_n = dout + int64_t(n) * d.K * g.PQ;
      float* dinp_n = dinp + int64_t(n) * d.C * g.HW;
      if (cols.size() > 0) {
        float* target = pointwise ? dinp_n : shared_dcol;
        product(target + cols.begin, g.PQ, 0, g.CRS, dout_n + cols.begin, g.PQ, cols.size());
      }
      if (pointwise) continue;
#pragma omp barrier
      col2im(dinp_n, shared_dcol + channels.begin * g.RS * g.PQ, g.PQ, d, g, int(channels.begin),
             int(channels.end));
#pragma omp barrier
    }
  }
}

}  // namespace

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::ConvDesc& d) {
  const Geometry g(d);
  const int threads = kernel_threads();
  if (uses_winograd(d, ConvDirection::weight_gradient))
    winograd_conv2d_backward_weight(dweight, dbias, dout, inp, d);
  else if (uses_direct(d, ConvDirection::weight_gradient))
    direct_conv2d_backward_weight(dweight, dbias, dout, inp, d);
  else
    conv2d_backward_weight(dweight, dbias, dout, inp, d, g, threads);
  if (!dinp) return;
  if (uses_winograd(d, ConvDirection::data_gradient))
    winograd_conv2d_backward_data(dinp, dout, weight, d);
  else if (uses_direct(d, ConvDirection::data_gradient))
    direct_conv2d_backward_data(dinp, dout, weight, d);
  else
    conv2d_backward_data(dinp, dout, weight, d, g, threads);
}

}  // namespace keynet::cpu::fast
