// Direct convolution (direct_conv.h) for stride-1 convolutions with few channels.
//
// Each image is copied into a zero-padded buffer of C planes of Hp x Wp (Hp = H + 2 pad, Wp = W + 2 pad).
// Output (p, q) is the "flat" position j = p * Wp + q; the input under it at filter tap t = (c, r, s) lies at
// j + offset(t), offset(t) = c * Hp * Wp + r * Wp + s, so consecutive outputs read consecutive inputs at
// every tap: vector loads straight from the padded image, no column matrix.
//   forward:         out[k][j] = sum_t W[k][t] * x[j + offset(t)], in register tiles of MR output channels by
//                    NJ flat positions: per tap NJ / lanes vector loads and MR broadcast weights feed
//                    MR * NJ / lanes FMAs. The Wp - Q positions at the end of each row are computed and
//                    dropped; the filter rows that meet only padding rows for all of a tile's outputs are
//                    skipped.
//   backward data:   the forward kernels on the padded output gradient with the flipped filters
//                    (data_gradient_desc): no column matrix and no col2im.
//   backward weight: dW[k][t] = sum_n sum_(p,q) dout_n[k][p][q] * x_n[p * Wp + q + offset(t)], in register
//                    tiles of KB output channels by one filter row's S taps, accumulated in vectors along j
//                    (the image's loads masked past each row's Q outputs, so that no dropped position enters
//                    a sum) and summed across the lanes once per thread.
// Every element is one dot product, summed in an order fixed for a given thread count: the GEMM path's
// parity tolerance, and bit-for-bit repeatable training.
#include "kernels/cpu/fast/direct_conv.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

#include "kernels/cpu/fast/gemm.h"
#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {

enum class Isa { avx512, avx2 };

// The vector instructions of the GEMM's micro-kernel (KEYNET_GEMM_KERNEL), so that the tests that force
// AVX2 run the AVX2 kernels here too; none with the generic micro-kernel.
std::optional<Isa> direct_isa() {
  switch (gemm_default_kernel()) {
    case GemmKernel::avx512: return Isa::avx512;
    case GemmKernel::avx2: return Isa::avx2;
    default: return std::nullopt;
  }
}

// The zero-padded planes of convolution d's input and the offset of each filter tap, in the weights'
// (c, r, s) order.
struct Padded {
  int64_t Hp, Wp, plane, P, Q, taps;
  std::vector<int64_t> offsets;
  explicit Padded(const ops::ConvDesc& d)
      : Hp(d.H + 2 * d.pad), Wp(d.W + 2 * d.pad), plane(Hp * Wp), P(d.P()), Q(d.Q()),
        taps(int64_t(d.C) * d.R * d.S) {
    offsets.reserve(std::size_t(taps));
    for (int c = 0; c < d.C; ++c)
      for (int r = 0; r < d.R; ++r)
        for (int s = 0; s < d.S; ++s) offsets.push_back(c * plane + r * Wp + s);
  }
};

// image (C, H, W) into dst: C planes of Hp x Wp holding it at (pad, pad) with zeros around, then `slack` zeros.
void pad_image(float* dst, const float* image, const ops::ConvDesc& d, const Padded& g, int64_t slack) {
  for (int c = 0; c < d.C; ++c) {
    float* plane = dst + c * g.plane;
    std::fill(plane, plane + d.pad * g.Wp, 0.0f);
    for (int h = 0; h < d.H; ++h) {
      float* row = plane + (h + d.pad) * g.Wp;
      std::fill(row, row + d.pad, 0.0f);
      std::memcpy(row + d.pad, image + (int64_t(c) * d.H + h) * d.W, sizeof(float) * std::size_t(d.W));
      std::fill(row + d.pad + d.W, row + g.Wp, 0.0f);
    }
    std::fill(plane + (d.pad + d.H) * g.Wp, plane + g.plane, 0.0f);
  }
  std::fill(dst + d.C * g.plane, dst + d.C * g.plane + slack, 0.0f);
}

// ---- forward tiles: tile[i * ld + j] = sum over taps t of w[t * MR + i] * x[offsets[t] + j], i < MR, j < NJ,
// over the taps of a TapRange:

// Of each of `channels` input channels, `count` consecutive taps from `first` (of the channel's per_channel =
// R S, in (r, s) order): the filter rows that reach image rows, not only padding, for a tile's output rows.
struct TapRange {
  int channels;
  int64_t per_channel, first, count;
};

template <int MR, int V>
__attribute__((target("avx512f,fma"))) void forward_tile_avx512(const float* x, const int64_t* offsets, const float* w,
                                                                const TapRange& taps, float* tile, int64_t ld) {
  __m512 acc[MR][V];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int c = 0; c < taps.channels; ++c)
    for (int64_t t = c * taps.per_channel + taps.first, end = t + taps.count; t < end; ++t) {
      const float* xt = x + offsets[t];
      const float* wt = w + t * MR;
      __m512 xv[V];
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) xv[v] = _mm512_loadu_ps(xt + 16 * v);
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) {
        const __m512 wi = _mm512_set1_ps(wt[i]);
#pragma GCC unroll 3
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(wi, xv[v], acc[i][v]);
      }
    }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(tile + i * ld + 16 * v, acc[i][v]);
}

template <int MR, int V>
__attribute__((target("avx2,fma"))) void forward_tile_avx2(const float* x, const int64_t* offsets, const float* w,
                                                           const TapRange& taps, float* tile, int64_t ld) {
  __m256 acc[MR][V];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int c = 0; c < taps.channels; ++c)
    for (int64_t t = c * taps.per_channel + taps.first, end = t + taps.count; t < end; ++t) {
      const float* xt = x + offsets[t];
      const float* wt = w + t * MR;
      __m256 xv[V];
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) xv[v] = _mm256_loadu_ps(xt + 8 * v);
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        const __m256 wi = _mm256_broadcast_ss(wt + i);
#pragma GCC unroll 3
        for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(wi, xv[v], acc[i][v]);
      }
    }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(tile + i * ld + 8 * v, acc[i][v]);
}

using ForwardTile = void (*)(const float*, const int64_t*, const float*, const TapRange&, float*, int64_t);
struct ForwardKernel {
  ForwardTile run;
  int MR, NJ;
};

// The tile for K output channels. AVX-512: 8 x 48, 24 accumulators fed by 3 loads and 8 broadcasts per
// tap; 12 x 32 where K is a multiple of 12 and not of 8 (the NoseNet's 12 channels, without 4 rows of
// padding). AVX2: 4 x 24, 12 accumulators of its 16 registers.
ForwardKernel forward_kernel(Isa isa, int K) {
  if (isa == Isa::avx2) return {forward_tile_avx2<4, 3>, 4, 24};
  if (K % 8 != 0 && K % 12 == 0) return {forward_tile_avx512<12, 2>, 12, 32};
  return {forward_tile_avx512<8, 3>, 8, 48};
}

// The filters of d for tiles of MR output channels, in the calling thread's scratch slot 2: block b holds,
// tap after tap, the MR weights of channels b * MR ... (zeros past the last channel). flipped: those of d's
// data gradient (data_gradient_desc), whose output channel c at tap (k, r, s) weighs W[k][c][R-1-r][S-1-s].
const float* packed_filters(const float* weight, const ops::ConvDesc& d, bool flipped, int MR) {
  const int outputs = flipped ? d.C : d.K, inputs = flipped ? d.K : d.C;
  const int64_t taps = int64_t(inputs) * d.R * d.S, rows = (outputs + MR - 1) / MR * MR;
  float* packed = scratch(2, rows * taps);
  for (int64_t o = 0; o < rows; ++o)
    for (int in = 0; in < inputs; ++in)
      for (int r = 0; r < d.R; ++r)
        for (int s = 0; s < d.S; ++s) {
          const int64_t t = (int64_t(in) * d.R + r) * d.S + s;
          float value = 0.0f;
          if (o < outputs)
            value = flipped ? weight[((int64_t(in) * d.C + o) * d.R + (d.R - 1 - r)) * d.S + (d.S - 1 - s)]
                            : weight[(o * d.C + in) * d.R * d.S + r * d.S + s];
          packed[o / MR * taps * MR + t * MR + o % MR] = value;
        }
  return packed;
}

// out (N, e.K, P, Q) = the stride-1 convolution e of inp (N, e.C, e.H, e.W) by filters packed for kernel f,
// plus bias (may be null). Threads take whole images, or blocks of output rows when there are fewer images
// than threads.
void convolve(float* out, const float* inp, const float* packed, const float* bias, const ops::ConvDesc& e,
              const ForwardKernel& f) {
  const Padded g(e);
  const int threads = kernel_threads();
  const int parts = threads / std::gcd(e.N, threads);
  const int64_t blocks = (e.K + f.MR - 1) / f.MR;
  // A tile's last vector reads up to NJ - 1 positions past the last output row's end, and the taps reach
  // S - 1 further: after the last plane, NJ + S zeros cover both.
  const int64_t slack = f.NJ + e.S;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t item = 0; item < int64_t(e.N) * parts; ++item) {
    const int64_t n = item / parts;
    const Range rows = split(g.P, parts, int(item % parts));
    if (rows.size() == 0) continue;
    float* x = scratch(0, e.C * g.plane + slack);
    pad_image(x, inp + n * e.C * e.H * e.W, e, g, slack);
    const int64_t width = (rows.size() * g.Wp + f.NJ - 1) / f.NJ * f.NJ;  // flat positions computed
    float* flat = scratch(1, blocks * f.MR * width);
    const float* first = x + rows.begin * g.Wp;
    for (int64_t b = 0; b < blocks; ++b)  // a block's filters stay in L1 while the image passes under them
      for (int64_t j = 0; j < width; j += f.NJ) {
        // filter rows r reach image rows p + r - pad for the tile's output rows p; rows outside the image
        // are padding, zeros (a convolution without padding has a data gradient padded by R - 1)
        const int64_t p_first = rows.begin + j / g.Wp;
        const int64_t p_last = std::min(g.P - 1, rows.begin + (j + f.NJ - 1) / g.Wp);
        const int64_t r0 = std::clamp<int64_t>(e.pad - p_last, 0, e.R);
        const int64_t r1 = std::clamp<int64_t>(e.pad + e.H - p_first, r0, e.R);
        const TapRange taps{e.C, int64_t(e.R) * e.S, r0 * e.S, (r1 - r0) * e.S};
        f.run(first + j, g.offsets.data(), packed + b * g.taps * f.MR, taps, flat + b * f.MR * width + j, width);
      }
    for (int k = 0; k < e.K; ++k) {
      const float b = bias ? bias[k] : 0.0f;
      for (int64_t p = rows.begin; p < rows.end; ++p) {
        float* dst = out + ((n * e.K + k) * g.P + p) * g.Q;
        const float* src = flat + k * width + (p - rows.begin) * g.Wp;
        for (int64_t q = 0; q < g.Q; ++q) dst[q] = src[q] + b;
      }
    }
  }
}

// ---- weight-gradient tiles. The output gradient of an image is laid out for them in blocks of KB channels,
// flat vector by flat vector (positions j with row stride Wp, as the padded image's): block b, vector u
// holds channels b * KB ... side by side, LANES values each, with zeros at the dropped positions and for
// channels past K. A tile takes one block, `vectors` vectors from u0, and the S taps of one filter row
// (c, r): x points at the padded image at c * Hp * Wp + r * Wp + lanes * u0, so tap s reads x[j + s]; each
// vector's lanes past a row's end are masked off (masks[u]), so that no dropped position enters a sum.
//   acc[(a * ld + s) * lanes ...] += sum over the tile's vectors of dy[u][a] * x[u + s], a < kb (stored).

template <int KB, int S>
__attribute__((target("avx512f,fma"))) void weight_tile_avx512(const float* dy, const float* x, int64_t vectors,
                                                                const void* masks, float* acc_memory, int64_t ld,
                                                                int kb) {
  __m512 acc[KB][S];
#pragma GCC unroll 8
  for (int a = 0; a < KB; ++a)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s)
      acc[a][s] = a < kb ? _mm512_load_ps(acc_memory + (a * ld + s) * 16) : _mm512_setzero_ps();
  const auto* mask = static_cast<const __mmask16*>(masks);
  for (int64_t u = 0; u < vectors; ++u) {
    const __mmask16 m = mask[u];
    __m512 dv[KB];
#pragma GCC unroll 8
    for (int a = 0; a < KB; ++a) dv[a] = _mm512_load_ps(dy + a * 16);
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + s);
#pragma GCC unroll 8
      for (int a = 0; a < KB; ++a) acc[a][s] = _mm512_fmadd_ps(dv[a], xv, acc[a][s]);
    }
    dy += KB * 16;
    x += 16;
  }
#pragma GCC unroll 8
  for (int a = 0; a < KB; ++a)
    if (a < kb)
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) _mm512_store_ps(acc_memory + (a * ld + s) * 16, acc[a][s]);
}

template <int KB, int S>
__attribute__((target("avx2,fma"))) void weight_tile_avx2(const float* dy, const float* x, int64_t vectors,
                                                           const void* masks, float* acc_memory, int64_t ld, int kb) {
  __m256 acc[KB][S];
#pragma GCC unroll 8
  for (int a = 0; a < KB; ++a)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s)
      acc[a][s] = a < kb ? _mm256_load_ps(acc_memory + (a * ld + s) * 8) : _mm256_setzero_ps();
  const auto* mask = static_cast<const int32_t*>(masks);
  for (int64_t u = 0; u < vectors; ++u) {
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mask + 8 * u));
    __m256 dv[KB];
#pragma GCC unroll 8
    for (int a = 0; a < KB; ++a) dv[a] = _mm256_load_ps(dy + a * 8);
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      const __m256 xv = _mm256_maskload_ps(x + s, m);
#pragma GCC unroll 8
      for (int a = 0; a < KB; ++a) acc[a][s] = _mm256_fmadd_ps(dv[a], xv, acc[a][s]);
    }
    dy += KB * 8;
    x += 8;
  }
#pragma GCC unroll 8
  for (int a = 0; a < KB; ++a)
    if (a < kb)
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) _mm256_store_ps(acc_memory + (a * ld + s) * 8, acc[a][s]);
}

using WeightTile = void (*)(const float*, const float*, int64_t, const void*, float*, int64_t, int);
struct WeightKernel {
  WeightTile run;
  int KB, lanes;
};

// The tiles for filter rows of S taps, KB = 1 ... the most channels whose S x KB accumulators, KB
// output-gradient vectors and one image vector fit the registers: KB (S + 1) + 1 <= 25 of AVX-512's 32
// (5 taps: 4 channels ran 4-12% faster than 5, which take 31 and leave the compiler none to spare), <= 16
// on AVX2.
template <int S, int... KB>
std::vector<WeightKernel> weight_kernels_avx512(std::integer_sequence<int, KB...>) {
  return {WeightKernel{weight_tile_avx512<KB + 1, S>, KB + 1, 16}...};
}
template <int S, int... KB>
std::vector<WeightKernel> weight_kernels_avx2(std::integer_sequence<int, KB...>) {
  return {WeightKernel{weight_tile_avx2<KB + 1, S>, KB + 1, 8}...};
}

const std::vector<WeightKernel>& weight_kernels(Isa isa, int S) {
  static const std::vector<WeightKernel> avx512[3] = {
      weight_kernels_avx512<3>(std::make_integer_sequence<int, 6>()),
      weight_kernels_avx512<5>(std::make_integer_sequence<int, 4>()),
      weight_kernels_avx512<7>(std::make_integer_sequence<int, 3>())};
  static const std::vector<WeightKernel> avx2[3] = {weight_kernels_avx2<3>(std::make_integer_sequence<int, 3>()),
                                                    weight_kernels_avx2<5>(std::make_integer_sequence<int, 2>()),
                                                    weight_kernels_avx2<7>(std::make_integer_sequence<int, 1>())};
  // Indexed in each branch: GCC 12 under -fsanitize=shift or signed-integer-overflow dropped the index of
  // `(cond ? avx512 : avx2)[row]` in the AVX2 branch, so that every filter width got the 3-tap tiles.
  const int row = (S - 3) / 2;
  return isa == Isa::avx512 ? avx512[row] : avx2[row];
}

// The channel block for K output channels: the fewest loads per FMA over the padded channels,
// ceil(K / KB) KB (KB + S) / (KB S) (K = 12 with 5 taps: 4 channels, not 5 with 3 rows of padding).
WeightKernel weight_kernel(Isa isa, int K, int S) {
  const std::vector<WeightKernel>& kernels = weight_kernels(isa, S);
  const auto cost = [&](const WeightKernel& f) {
    return double((K + f.KB - 1) / f.KB * f.KB) * (f.KB + S) / (f.KB * S);
  };
  return *std::min_element(kernels.begin(), kernels.end(),
                           [&](const WeightKernel& a, const WeightKernel& b) { return cost(a) < cost(b); });
}

// The masks of an image's flat vectors (row stride Wp): vector u's lanes j = lanes * u + i with j % Wp < Q
// and j < P * Wp. AVX-512: a 16-bit mask per vector; AVX2: 8 lanes of 0 or -1.
struct FlatMasks {
  std::vector<uint16_t> bits;
  std::vector<int32_t> lanes;
  int64_t vectors;
  FlatMasks(Isa isa, int lane_count, int64_t P, int64_t Wp, int64_t Q)
      : vectors((P * Wp + lane_count - 1) / lane_count) {
    if (isa == Isa::avx512)
      bits.assign(std::size_t(vectors), 0);
    else
      lanes.assign(std::size_t(vectors * lane_count), 0);
    for (int64_t j = 0; j < P * Wp; ++j) {
      if (j % Wp >= Q) continue;
      if (isa == Isa::avx512)
        bits[std::size_t(j / 16)] |= uint16_t(1u << (j % 16));
      else
        lanes[std::size_t(j)] = -1;
    }
  }
  const void* at(int64_t u) const {
    return bits.empty() ? static_cast<const void*>(lanes.data() + u * 8) : bits.data() + u;
  }
};

// dout_n (K, P, Q) into the tiles' layout (above): blocks of KB channels of `vectors` flat vectors each. Each
// channel goes first into `flat` (its rows Wp apart, zeros between and after them), then vector by vector
// into its place in the block.
void interleave_output_gradient(float* dy, float* flat, const float* dout_n, const ops::ConvDesc& d,
                                const Padded& g, int KB, int lanes, int64_t vectors) {
  const int64_t blocks = (d.K + KB - 1) / KB, block_size = vectors * KB * lanes;
  std::fill(flat + g.P * g.Wp, flat + vectors * lanes, 0.0f);
  for (int k = 0; k < blocks * KB; ++k) {
    float* block = dy + k / KB * block_size + k % KB * lanes;
    if (k >= d.K) {  // the last block's channels past K
      for (int64_t u = 0; u < vectors; ++u) std::fill_n(block + u * KB * lanes, lanes, 0.0f);
      continue;
    }
    for (int64_t p = 0; p < g.P; ++p) {
      std::memcpy(flat + p * g.Wp, dout_n + (int64_t(k) * g.P + p) * g.Q, sizeof(float) * std::size_t(g.Q));
      std::fill(flat + p * g.Wp + g.Q, flat + (p + 1) * g.Wp, 0.0f);
    }
    // whole vectors of a size known here, so that each is a register's load and store, not a memcpy call
    if (lanes == 16)
      for (int64_t u = 0; u < vectors; ++u) std::memcpy(block + u * KB * 16, flat + u * 16, 16 * sizeof(float));
    else
      for (int64_t u = 0; u < vectors; ++u) std::memcpy(block + u * KB * 8, flat + u * 8, 8 * sizeof(float));
  }
}

}  // namespace

bool direct_applies(const ops::ConvDesc& d) {
  return direct_isa().has_value() && d.stride == 1 && d.R == d.S && (d.R == 3 || d.R == 5 || d.R == 7) &&
         d.pad < d.R && d.P() > 0 && d.Q() > 0;
}

bool direct_pays(const ops::ConvDesc& d, ConvDirection direction) {
  const ops::ConvDesc shape = direction == ConvDirection::data_gradient ? data_gradient_desc(d) : d;
  // Measured by `bench_cpu --part algorithms` (BENCHMARKS.md). Fewer than 8 output channels leave most of a
  // forward tile's rows as padding (the stem's data gradient, 1 channel, ran 3-5x slower than the GEMM);
  // beyond 800 taps (C R S) a tile's window of the padded input no longer stays in L1, and the GEMM, whose
  // packing is then cheap next to its products, wins (ResNet18's 512 channels: 1.6x slower). A 3x3 filter
  // row gives the weight gradient's tile 3 taps to share each output-gradient load, and its column
  // matrix is small: the GEMM took 0.8-0.9x the direct time for the NoseNet's 3x3 gradients.
  if (d.R == 3 && direction != ConvDirection::forward) return false;
  return shape.K >= 8 && int64_t(shape.C) * shape.R * shape.S <= 800;
}

bool uses_direct(const ops::ConvDesc& d, ConvDirection direction) {
  if (!direct_applies(d)) return false;
  switch (conv_algo()) {
    case ConvAlgo::direct: return true;
    case ConvAlgo::automatic: return !uses_winograd(d, direction) && direct_pays(d, direction);
    case ConvAlgo::gemm:
    case ConvAlgo::winograd: return false;
  }
  return false;
}

void direct_conv2d_forward(float* out, const float* inp, const float* weight, const float* bias,
                           const ops::ConvDesc& d) {
  const ForwardKernel f = forward_kernel(*direct_isa(), d.K);
  convolve(out, inp, packed_filters(weight, d, false, f.MR), bias, d, f);
}

void direct_conv2d_backward_data(float* dinp, const float* dout, const float* weight, const ops::ConvDesc& d) {
  const ops::ConvDesc e = data_gradient_desc(d);
  const ForwardKernel f = forward_kernel(*direct_isa(), e.K);
  convolve(dinp, dout, packed_filters(weight, d, true, f.MR), nullptr, e, f);
}

// Each thread sums its images into private vector accumulators (a vector of lanes per weight), summed
// across the lanes into a partial of dweight once its images are done; the partials are then added in
// thread order, so that the result repeats bit for bit. The flat vectors of an image go in spans whose
// output gradient (one channel block of it) stays in L1 while every filter row passes over it; each vector
// load of the padded image serves the block's KB channels.
void direct_conv2d_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp,
                                   const ops::ConvDesc& d) {
  const Isa isa = *direct_isa();
  const WeightKernel f = weight_kernel(isa, d.K, d.S);
  const Padded g(d);
  const FlatMasks masks(isa, f.lanes, g.P, g.Wp, g.Q);
  const int threads = kernel_threads();
  const int64_t weight_size = d.K * g.taps, partial_size = weight_size + d.K, PQ = g.P * g.Q;
  const int64_t blocks = (d.K + f.KB - 1) / f.KB, block_size = masks.vectors * f.KB * f.lanes;
  constexpr int64_t kSpanBytes = 16 << 10;  // of one channel block's output gradient
  const int64_t span = std::max<int64_t>(1, kSpanBytes / (int64_t(sizeof(float)) * f.KB * f.lanes));
  float* partials = scratch(2, partial_size * threads);
#pragma omp parallel num_threads(threads)
  {
    float* partial = partials + partial_size * omp_get_thread_num();  // its weights: the lane sums, below
    std::fill(partial + weight_size, partial + partial_size, 0.0f);
    float* acc = scratch(4, weight_size * f.lanes);
    std::fill(acc, acc + weight_size * f.lanes, 0.0f);
    float* x = scratch(0, d.C * g.plane);
    float* dy = scratch(1, blocks * block_size);
    float* flat = scratch(3, masks.vectors * f.lanes);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
      pad_image(x, inp + n * d.C * d.H * d.W, d, g, 0);
      const float* dout_n = dout + n * d.K * PQ;
      interleave_output_gradient(dy, flat, dout_n, d, g, f.KB, f.lanes, masks.vectors);
      for (int64_t u0 = 0; u0 < masks.vectors; u0 += span) {
        const int64_t vectors = std::min(span, masks.vectors - u0);
        for (int64_t b = 0; b < blocks; ++b) {
          const int kb = int(std::min<int64_t>(f.KB, d.K - b * f.KB));
          for (int c = 0; c < d.C; ++c)
            for (int r = 0; r < d.R; ++r) {
              const int64_t tap = (int64_t(c) * d.R + r) * d.S;  // (c, r, 0)
              f.run(dy + b * block_size + u0 * f.KB * f.lanes, x + g.offsets[tap] + u0 * f.lanes, vectors,
                    masks.at(u0), acc + (b * f.KB * g.taps + tap) * f.lanes, g.taps, kb);
            }
        }
      }
      if (dbias)
        for (int k = 0; k < d.K; ++k) partial[weight_size + k] += sum_of(dout_n + k * PQ, PQ);
    }
    for (int64_t i = 0; i < weight_size; ++i) partial[i] = sum_of(acc + i * f.lanes, f.lanes);
    add_partials_in_thread_order(dweight, dbias, partials, weight_size, partial_size);
  }
}

}  // namespace keynet::cpu::fast
