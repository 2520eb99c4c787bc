// Winograd convolution F(m x m, 3 x 3) for the fast CPU path's 3x3 stride-1 convolutions (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016): an output tile of m x m points comes from an
// (m + 2) x (m + 2) input tile d as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
// so that, summed over input channels, each of the alpha^2 = (m + 2)^2 tile positions xi is one GEMM:
//   M[xi] (K, T) = U[xi] (K, C) * V[xi] (C, T),   U = G g G^T per (k, c),  V = B^T d B per (c, tile)
// on our GEMM (gemm.h, its AVX-512 or AVX2 micro-kernel). That is alpha^2 / m^2 multiplications per
// output point and channel instead of 9: 36/16 = 2.25 for F(4x4, 3x3) (4x fewer), 16/4 = 4 for F(2x2, 3x3)
// (2.25x fewer).
//
// The three directions:
//   forward          as above, tiles in blocks that stay in cache: transform a block's input, alpha^2
//                    GEMMs, transform its outputs (plus bias) straight into `out`;
//   data gradient    the forward algorithm on dout with the weights flipped and transposed (a 3x3
//                    stride-1 convolution's data gradient is one, with padding 2 - pad);
//   weight gradient  the adjoint of the forward map in g: dg = G^T [ sum_tiles (A dY A^T) .* (B^T d B) ] G,
//                    i.e. alpha^2 GEMMs Z[xi] (K, C) += Yhat[xi] (K, T) * V[xi]^T (T, C), the threads
//                    sharing the tiles or the input channels (see weight_gradient).
// The transforms run on 16 tiles at a time in local arrays, which the compiler keeps in vector registers:
// tiles of one tile row, or (where a row holds 5 or fewer) 16 consecutive tiles gathered across rows.
// The tile is 4x4, or 2x2 on maps where 4x4 tiles would be mostly padding (winograd_tile).
// Errors: the transforms multiply by up to 8 (F(4x4)) and divide by 24, so the result is not rounded like
// a dot product; docs/DESIGN.md gives the bound the parity suite holds it to (F(2x2)'s transforms scale by
// at most 2 and stay well inside it).
#include "kernels/cpu/fast/winograd.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "kernels/cpu/fast/gemm.h"
#include "kernels/cpu/fast/parallel.h"
#include "tensor/error.h"

namespace keynet::cpu::fast {

namespace {

constexpr int kLanes = 16;  // tiles (or filters) transformed together, one vector register's worth
#define KEYNET_INLINE __attribute__((always_inline)) inline

// The 1-D transforms of F(m, 3), each on kLanes tiles at once: x[i][lane] -> y[j][lane]. Inputs come as
// pointers to kLanes values, so that shifted views (the next tile's columns) need no copy.
template <int M>
struct Transforms;

template <>
struct Transforms<4> {
  static constexpr int kAlpha = 6;
  // B^T d: input (6) -> (6)
  static KEYNET_INLINE void input(float (*y)[kLanes], const float* const* d) {
    for (int l = 0; l < kLanes; ++l) {
      const float d0 = d[0][l], d1 = d[1][l], d2 = d[2][l], d3 = d[3][l], d4 = d[4][l], d5 = d[5][l];
      y[0][l] = 4 * d0 - 5 * d2 + d4;
      y[1][l] = -4 * (d1 + d2) + d3 + d4;
      y[2][l] = 4 * (d1 - d2) - d3 + d4;
      y[3][l] = 2 * (d3 - d1) - d2 + d4;
      y[4][l] = 2 * (d1 - d3) - d2 + d4;
      y[5][l] = 4 * d1 - 5 * d3 + d5;
    }
  }
  // A^T m: (6) -> output (4)
  static KEYNET_INLINE void output(float (*y)[kLanes], const float* const* m) {
    for (int l = 0; l < kLanes; ++l) {
      const float m0 = m[0][l], m1 = m[1][l], m2 = m[2][l], m3 = m[3][l], m4 = m[4][l], m5 = m[5][l];
      const float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
      y[0][l] = m0 + s12 + s34;
      y[1][l] = d12 + 2 * d34;
      y[2][l] = s12 + 4 * s34;
      y[3][l] = d12 + 8 * d34 + m5;
    }
  }
  // A y: output gradient (4) -> (6), the adjoint of `output`
  static KEYNET_INLINE void output_adjoint(float (*z)[kLanes], const float* const* y) {
    for (int l = 0; l < kLanes; ++l) {
      const float y0 = y[0][l], y1 = y[1][l], y2 = y[2][l], y3 = y[3][l];
      const float s02 = y0 + y2, s13 = y1 + y3;
      z[0][l] = y0;
      z[1][l] = s02 + s13;
      z[2][l] = s02 - s13;
      z[3][l] = y0 + 2 * y1 + 4 * y2 + 8 * y3;
      z[4][l] = y0 - 2 * y1 + 4 * y2 - 8 * y3;
      z[5][l] = y3;
    }
  }
  // G g: filter (3) -> (6)
  static KEYNET_INLINE void filter(float (*w)[kLanes], const float* const* g) {
    for (int l = 0; l < kLanes; ++l) {
      const float g0 = g[0][l], g1 = g[1][l], g2 = g[2][l];
      w[0][l] = g0 / 4;
      w[1][l] = -(g0 + g1 + g2) / 6;
      w[2][l] = -(g0 - g1 + g2) / 6;
      w[3][l] = g0 / 24 + g1 / 12 + g2 / 6;
      w[4][l] = g0 / 24 - g1 / 12 + g2 / 6;
      w[5][l] = g2;
    }
  }
  // G^T z: (6) -> filter gradient (3), the adjoint of `filter`
  static KEYNET_INLINE void filter_adjoint(float (*g)[kLanes], const float* const* z) {
    for (int l = 0; l < kLanes; ++l) {
      const float z0 = z[0][l], z1 = z[1][l], z2 = z[2][l], z3 = z[3][l], z4 = z[4][l], z5 = z[5][l];
      g[0][l] = z0 / 4 - (z1 + z2) / 6 + (z3 + z4) / 24;
      g[1][l] = (z2 - z1) / 6 + (z3 - z4) / 12;
      g[2][l] = (z3 + z4 - z1 - z2) / 6 + z5;
    }
  }
};

template <>
struct Transforms<2> {
  static constexpr int kAlpha = 4;
  // B^T d: input (4) -> (4)
  static KEYNET_INLINE void input(float (*y)[kLanes], const float* const* d) {
    for (int l = 0; l < kLanes; ++l) {
      const float d0 = d[0][l], d1 = d[1][l], d2 = d[2][l], d3 = d[3][l];
      y[0][l] = d0 - d2;
      y[1][l] = d1 + d2;
      y[2][l] = d2 - d1;
      y[3][l] = d1 - d3;
    }
  }
  // A^T m: (4) -> output (2)
  static KEYNET_INLINE void output(float (*y)[kLanes], const float* const* m) {
    for (int l = 0; l < kLanes; ++l) {
      y[0][l] = m[0][l] + m[1][l] + m[2][l];
      y[1][l] = m[1][l] - m[2][l] - m[3][l];
    }
  }
  // A y: output gradient (2) -> (4), the adjoint of `output`
  static KEYNET_INLINE void output_adjoint(float (*z)[kLanes], const float* const* y) {
    for (int l = 0; l < kLanes; ++l) {
      const float y0 = y[0][l], y1 = y[1][l];
      z[0][l] = y0;
      z[1][l] = y0 + y1;
      z[2][l] = y0 - y1;
      z[3][l] = -y1;
    }
  }
  // G g: filter (3) -> (4)
  static KEYNET_INLINE void filter(float (*w)[kLanes], const float* const* g) {
    for (int l = 0; l < kLanes; ++l) {
      const float g0 = g[0][l], g1 = g[1][l], g2 = g[2][l];
      w[0][l] = g0;
      w[1][l] = (g0 + g1 + g2) / 2;
      w[2][l] = (g0 - g1 + g2) / 2;
      w[3][l] = g2;
    }
  }
  // G^T z: (4) -> filter gradient (3), the adjoint of `filter`
  static KEYNET_INLINE void filter_adjoint(float (*g)[kLanes], const float* const* z) {
    for (int l = 0; l < kLanes; ++l) {
      const float z0 = z[0][l], z1 = z[1][l], z2 = z[2][l], z3 = z[3][l];
      g[0][l] = z0 + (z1 + z2) / 2;
      g[1][l] = (z1 - z2) / 2;
      g[2][l] = (z1 + z2) / 2 + z3;
    }
  }
};

// dst[0, kLanes) = src[0, kLanes): one vector move. The blocks' rows are padded by kLanes floats so that
// a group of fewer tiles may store whole vectors: what lands past its tiles is overwritten by the next
// group, or falls in the padding. (The loop in split_row that reads a variable part of a fixed span is
// written over the whole span with a condition, which the compiler turns into masked vector loads.)
KEYNET_INLINE void copy_lanes(float* dst, const float* src) {
  for (int l = 0; l < kLanes; ++l) dst[l] = src[l];
}

// A block of tiles [t0, t0 + count): its transformed values lie channel by channel, and within a channel
// position by position, each row holding the block's tiles: value (channel c, position xi, tile t) at
// (c * positions + xi) * ld + t. So a transform's stores for one channel stay within a few kilobytes (rows
// of one position lie positions * ld apart: a power-of-two stride there would map every store to the
// same cache set), and the GEMM of position xi reads the rows xi, xi + positions, ... (leading dimension
// positions * ld).
struct Block {
  int64_t t0, count, ld;
  // ld: room for a whole vector past the last tile, and an odd number of 64-byte lines, so that
  // consecutive rows fall in different cache sets
  Block(int64_t first, int64_t tiles) : t0(first), count(tiles), ld((tiles + kLanes) / 32 * 32 + 48) {}
};

// Where the tiles lie: output tiles of M x M over (P, Q), numbered t = (n * TH + ty) * TW + tx.
template <int M>
struct Tiling {
  static constexpr int kAlpha = M + 2, kPositions = kAlpha * kAlpha;
  int64_t P, Q, TH, TW, T;
  explicit Tiling(const ops::ConvDesc& d)
      : P(d.P()), Q(d.Q()), TH((P + M - 1) / M), TW((Q + M - 1) / M), T(int64_t(d.N) * TH * TW) {}
};

// The alpha^2 transformed filters U[xi] (K, C), stacked into one matrix (rows xi * rows_per_position + k,
// the rows past K zero) and written straight into the GEMM's packed layout (PackedA, whose storage is reused
// from call to call), never written out whole first. `flip` takes the data gradient's filters instead:
// channel c's filter for output k of the flipped convolution is weight (c, k) rotated by 180 degrees (K and C
// then name the flipped convolution's channels). A micro-panel's rows by two input channels at a time (below).
struct TransformedFilters {
  int64_t rows_per_position;  // K rounded up to the micro-kernel's rows, so each U[xi] starts on a tile
  std::unique_ptr<PackedA> packed;
};

template <int M>
TransformedFilters transformed_filters(const float* weight, int K, int C, bool flip, int threads) {
  using X = Transforms<M>;
  constexpr int A = X::kAlpha, positions = A * A;
  const int MR = tile_rows(GemmKernel::automatic);
  const int64_t rows = (K + MR - 1) / MR * MR, plane = int64_t(K) * C;
  auto packed = std::make_unique<PackedA>(positions * rows, C);
  float* u = packed->data();
  const PackedA& layout = *packed;
  if (flip) {  // the flipped filters written out first, 16 x 16 filters at a time (reads stay near each other)
    float* flipped = scratch(3, plane * 9);
    constexpr int kTile = 16;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int c0 = 0; c0 < C; c0 += kTile)
      for (int k0 = 0; k0 < K; k0 += kTile)
        for (int c = c0; c < std::min(C, c0 + kTile); ++c)
          for (int k = k0; k < std::min(K, k0 + kTile); ++k)
            for (int rs = 0; rs < 9; ++rs)
              flipped[(int64_t(k) * C + c) * 9 + rs] = weight[(int64_t(c) * K + k) * 9 + 8 - rs];
    weight = flipped;
  }
  // A group: the MR rows of one micro-panel (k0 .. k0 + MR - 1, zeros past K) by `width` consecutive columns
  // (c0 ..), lane r + MR * j for (k0 + r, c0 + j). Those lie side by side in each U[xi]'s packed panel (width
  // is even and so are the reduction blocks, so c0 and c0 + 1 share one), so each position's values go out
  // as one contiguous run.
  const int width = kLanes / MR;  // 2: MR is 6 or 8
  const int64_t column_groups = (C + width - 1) / width, groups = rows / MR * column_groups;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t group = 0; group < groups; ++group) {
    const int64_t k0 = group / column_groups * MR;
    const int c0 = int(group % column_groups) * width, columns = std::min(width, C - c0), lanes = MR * columns;
    alignas(64) float g[3][3][kLanes] = {}, rows_of_g[3][A][kLanes], result[A][kLanes];
    for (int j = 0; j < columns; ++j)
      for (int r = 0; r < MR && k0 + r < K; ++r)
        for (int rs = 0; rs < 9; ++rs) g[rs / 3][rs % 3][r + MR * j] = weight[((k0 + r) * C + c0 + j) * 9 + rs];
    for (int r = 0; r < 3; ++r) {  // g G^T along each row
      const float* row[3] = {g[r][0], g[r][1], g[r][2]};
      X::filter(rows_of_g[r], row);
    }
    const int64_t place = layout.offset(k0, c0), step = rows * layout.kc_of(c0);  // U[xi] lies xi * step further
    for (int j = 0; j < A; ++j) {  // then G (g G^T) down each column
      const float* column[3] = {rows_of_g[0][j], rows_of_g[1][j], rows_of_g[2][j]};
      X::filter(result, column);
      for (int i = 0; i < A; ++i) std::copy(result[i], result[i] + lanes, u + place + (i * A + j) * step);
    }
  }
  return {rows, std::move(packed)};
}

// The tiles [first, last) cut into blocks of `size` tiles (the last one may hold fewer).
struct Blocks {
  int64_t first, size, last;
  int64_t count() const { return (last - first + size - 1) / size; }
  Block operator[](int64_t b) const { return Block(first + b * size, std::min(size, last - first - b * size)); }
};

// Blocks of a thread's tiles: a block's transformed input (alpha^2 x C x tiles) and GEMM results (alpha^2 x
// K x tiles) should stay in the caches; blocks of near-equal size, a multiple of 16 (the lanes), at least 48
// (the AVX-512 micro-kernel's columns) unless the tiles are fewer. The threads split the tiles first and
// each cuts its share into blocks: cutting all tiles into blocks and sharing those leaves one thread a
// block more than the other where the count is odd (15 blocks at 40x40, 9 at 20x20: 8 against 7 and 5
// against 4), and the other waiting.
template <int M>
Blocks blocks_of(int C, int K, Range tiles) {
  constexpr int64_t kBudget = 2 << 20;  // bytes: about a core's L2
  const int64_t per_tile = int64_t(Tiling<M>::kPositions) * (C + K) * int64_t(sizeof(float));
  const int64_t most = std::clamp<int64_t>(kBudget / per_tile / 16 * 16, 48, 240);
  const int64_t count = std::max<int64_t>(1, (tiles.size() + most - 1) / most);
  return {tiles.begin, std::max<int64_t>(48, ((tiles.size() + count - 1) / count + 15) / 16 * 16), tiles.end};
}

// The share of the T tiles that thread `index` of `team` takes.
Range tiles_of_thread(int64_t T, int team, int index) { return split(T, team, index, kLanes); }

// Whether the threads share the channels (`channels` of them, at least `least` each) rather than the
// tiles: where the tiles are few against the channels, (threads - 1) T < threads x channels, each thread's
// share of the tiles would make narrow GEMMs against all of the channels (ResNet18's last stage has 64 tiles
// at batch 16), and the work a channel split repeats on every thread (the other side's transform) costs
// less than what it saves.
bool share_channels(int64_t T, int64_t channels, int threads, int64_t least) {
  return threads > 1 && channels >= threads * least && (threads - 1) * T < threads * channels;
}

// A group of tiles transformed together: up to kLanes consecutive tiles of one tile row of one image.
struct Group {
  int64_t n, ty, tx0;
  int lanes;
};

template <int M>
Group group_at(const Tiling<M>& tiling, int64_t t, int64_t left) {
  const int64_t tx0 = t % tiling.TW, row = t / tiling.TW;
  return {row / tiling.TH, row % tiling.TH, tx0, int(std::min<int64_t>({kLanes, tiling.TW - tx0, left}))};
}

// columns[j][l] = row[x0 + l * M + j] for tiles l < kLanes and their columns j < Columns (zero outside the
// row's width W or past `span` values from x0): row y of a group's tiles, split by column within the tile.
// Each column is gathered from whole aligned vectors by permutes; views of one column shifted by a tile
// (column M is column 0 of the next tile) would load across two stores and stall their forwarding.
template <int M, int Columns>
KEYNET_INLINE void split_row(float (*columns)[kLanes], const float* row, int64_t x0, int64_t W, int64_t span) {
  constexpr int kSpan = (kLanes + 1) * M;
  alignas(64) float values[kSpan];
  const int begin = int(std::clamp<int64_t>(-x0, 0, kSpan));
  const int end = int(std::clamp<int64_t>(std::min(W - x0, span), begin, kSpan));
  const float* from = row + x0;
  for (int p = 0; p < kSpan; ++p) values[p] = p >= begin && p < end ? from[p] : 0.0f;
  for (int l = 0; l < kLanes; ++l)
    for (int j = 0; j < Columns; ++j) columns[j][l] = values[l * M + j];
}

// The 2-D transform of kLanes tiles of In x In values: a 1-D transform (In -> A values) along each row,
// then down each column; the A x A results go to rows xi * A + nu of `to`, ld apart.
template <int In, int A, typename Transform1d>
KEYNET_INLINE void transform_tiles(float* to, int64_t ld, const float (*tiles)[In][kLanes], Transform1d transform) {
  alignas(64) float rows[In][A][kLanes], result[A][kLanes];
  for (int i = 0; i < In; ++i) {
    const float* row[In];
    for (int j = 0; j < In; ++j) row[j] = tiles[i][j];
    transform(rows[i], row);
  }
  for (int nu = 0; nu < A; ++nu) {
    const float* column[In];
    for (int i = 0; i < In; ++i) column[i] = rows[i][nu];
    transform(result, column);
    for (int xi = 0; xi < A; ++xi) copy_lanes(to + (xi * A + nu) * ld, result[xi]);
  }
}

// A tile row of ResNet18's 20x20 and 10x10 maps (part 3's 160x160 input) holds 5 and 3 tiles, so that a
// row's group leaves 11 and 13 of the 16 lanes idle. There the input transforms take groups of kLanes
// consecutive tiles from any rows and images instead, each lane's In x In window gathered value by value
// (masked gathers: one of 16 lanes with AVX-512, two of 8 with AVX2; zeros outside the map): 3-5x fewer
// transforms for the same tiles, the same values bit for bit. The forward output transform groups its tiles
// the same way (transform_output_gathered), storing each tile's rows to their place.
#if defined(__AVX512F__) || defined(__AVX2__)
constexpr bool kGatherTiles = true;
#else
constexpr bool kGatherTiles = false;
#endif

// The windows of up to kLanes consecutive tiles [t, t + lanes): lane l's window starts at (ty M - pad, tx M
// - pad) of its image, `offset[l]` floats from the same point of the first tile's image (image_stride
// floats apart); row_ok[i] and col_ok[j] mark the lanes whose row i and column j of the window lie on the
// map (H x W).
template <int In>
struct TileWindows {
  alignas(64) int32_t offset[kLanes] = {};
  uint32_t row_ok[In] = {}, col_ok[In] = {};
  int64_t n0 = 0;
};

// Whether a group of tiles spans tile rows: where a row fills at most a third of the lanes (36 gathers of 16
// values cost more than the idle lanes of 7, 10 or 14 tiles a row, less than those of 5 or fewer:
// BENCHMARKS.md).
bool groups_span_rows(int64_t TW) { return 3 * TW <= kLanes; }

// Whether tile windows of this map are gathered: groups span rows, and the lanes' offsets fit the gather's
// 32-bit indices.
bool gathers_windows(int64_t TW, int64_t N, int64_t image_stride) {
  return kGatherTiles && groups_span_rows(TW) && N * image_stride < (int64_t(1) << 31);
}

template <int M, int In>
TileWindows<In> windows_of(const Tiling<M>& tiling, int64_t t, int64_t left, int pad, int64_t H, int64_t W,
                           int64_t image_stride) {
  TileWindows<In> w;
  w.n0 = t / tiling.TW / tiling.TH;
  for (int l = 0; l < std::min<int64_t>(kLanes, left); ++l) {
    const int64_t row = (t + l) / tiling.TW, n = row / tiling.TH;
    const int64_t y0 = row % tiling.TH * M - pad, x0 = (t + l) % tiling.TW * M - pad;
    w.offset[l] = int32_t((n - w.n0) * image_stride + y0 * W + x0);
    for (int i = 0; i < In; ++i) {
      if (y0 + i >= 0 && y0 + i < H) w.row_ok[i] |= 1u << l;
      if (x0 + i >= 0 && x0 + i < W) w.col_ok[i] |= 1u << l;
    }
  }
  return w;
}

// columns[i][j][l] = lane l's window value (i, j), read from `image` (the first tile's image, row stride W).
template <int In>
KEYNET_INLINE void gather_windows(float (*columns)[In][kLanes], const float* image, const TileWindows<In>& w,
                                  int64_t W) {
#if defined(__AVX512F__)
  const __m512i offsets = _mm512_load_si512(w.offset);
  for (int i = 0; i < In; ++i)
    for (int j = 0; j < In; ++j) {
      const __mmask16 ok = __mmask16(w.row_ok[i] & w.col_ok[j]);
      const __m512i at = _mm512_add_epi32(offsets, _mm512_set1_epi32(int32_t(i * W + j)));
      _mm512_store_ps(columns[i][j], _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, at, image, 4));
    }
#elif defined(__AVX2__)
  const __m256i offsets[2] = {_mm256_load_si256(reinterpret_cast<const __m256i*>(w.offset)),
                              _mm256_load_si256(reinterpret_cast<const __m256i*>(w.offset + 8))};
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  for (int i = 0; i < In; ++i)
    for (int j = 0; j < In; ++j) {
      const uint32_t ok = w.row_ok[i] & w.col_ok[j];
      const __m256i shift = _mm256_set1_epi32(int32_t(i * W + j));
      for (int half = 0; half < 2; ++half) {  // lanes 8 half + [0, 8), each all ones where its bit of ok is set
        const __m256i lane_bits = _mm256_and_si256(_mm256_set1_epi32(int32_t(ok >> (8 * half))), bits);
        const __m256i lanes_ok = _mm256_cmpeq_epi32(lane_bits, bits);
        _mm256_store_ps(columns[i][j] + 8 * half,
                        _mm256_mask_i32gather_ps(_mm256_setzero_ps(), image, _mm256_add_epi32(offsets[half], shift),
                                                 _mm256_castsi256_ps(lanes_ok), 4));
      }
    }
#else
  (void)columns, (void)image, (void)w, (void)W;
#endif
}

// transform_input with each group's tiles gathered (gathers_windows). Apart, so that the row-by-row loop's
// code stays as it was: inlined into one function, the row-by-row path ran 10-25% slower at 7 tiles a row
// on 2 threads (one measurement, two alternations).
template <int M>
__attribute__((noinline)) void transform_input_gathered(float* V, const float* inp, const ops::ConvDesc& d,
                                                        const Tiling<M>& tiling, const Block& block, int c0, int c1) {
  using X = Transforms<M>;
  constexpr int A = X::kAlpha;
  const int64_t plane = int64_t(d.H) * d.W;
  for (int64_t first = 0; first < block.count; first += kLanes) {
    const auto w = windows_of<M, A>(tiling, block.t0 + first, block.count - first, d.pad, d.H, d.W, d.C * plane);
    for (int c = c0; c < c1; ++c) {
      alignas(64) float columns[A][A][kLanes];
      gather_windows<A>(columns, inp + (w.n0 * d.C + c) * plane, w, d.W);
      transform_tiles<A, A>(V + int64_t(c - c0) * A * A * block.ld + first, block.ld, columns,  // B^T d B
                            [](float (*y)[kLanes], const float* const* x) { X::input(y, x); });
    }
  }
}

// V (alpha^2 x (c1 - c0) rows of the block's tiles) for input channels [c0, c1) of a block of inp (N, C, H, W).
template <int M>
void transform_input(float* V, const float* inp, const ops::ConvDesc& d, const Tiling<M>& tiling, const Block& block,
                     int c0, int c1) {
  using X = Transforms<M>;
  constexpr int A = X::kAlpha;
  const int64_t plane = int64_t(d.H) * d.W;
  if (gathers_windows(tiling.TW, d.N, d.C * plane)) return transform_input_gathered<M>(V, inp, d, tiling, block, c0, c1);
  for (int64_t first = 0; first < block.count;) {
    const Group g = group_at(tiling, block.t0 + first, block.count - first);
    const int64_t y0 = g.ty * M - d.pad, x0 = g.tx0 * M - d.pad, span = int64_t(g.lanes) * M + (A - M);
    for (int c = c0; c < c1; ++c) {
      const float* image = inp + (g.n * d.C + c) * plane;
      alignas(64) float columns[A][A][kLanes];
      for (int i = 0; i < A; ++i) {
        const int64_t y = y0 + i;
        if (y >= 0 && y < d.H) {
          split_row<M, A>(columns[i], image + y * d.W, x0, d.W, span);
        } else {
          for (int j = 0; j < A; ++j) std::fill(columns[i][j], columns[i][j] + kLanes, 0.0f);
        }
      }
      transform_tiles<A, A>(V + int64_t(c - c0) * A * A * block.ld + first, block.ld, columns,  // B^T d B
                            [](float (*y)[kLanes], const float* const* x) { X::input(y, x); });
    }
    first += g.lanes;
  }
}

// The places of up to kLanes consecutive output tiles [t, t + lanes): lane l's tile starts `offset[l]`
// floats from the same point of the first tile's image (image_stride floats apart) and has rows[l] x
// cols[l] of its M x M points inside the output (P x Q).
template <int M>
struct TilePlaces {
  int64_t offset[kLanes], n0;
  int rows[kLanes], cols[kLanes];
  TilePlaces(const Tiling<M>& tiling, int64_t t, int lanes, int64_t image_stride) : n0(t / tiling.TW / tiling.TH) {
    for (int l = 0; l < lanes; ++l) {
      const int64_t row = (t + l) / tiling.TW, n = row / tiling.TH;
      const int64_t y0 = row % tiling.TH * M, x0 = (t + l) % tiling.TW * M;
      offset[l] = (n - n0) * image_stride + y0 * tiling.Q + x0;
      rows[l] = int(std::min<int64_t>(M, tiling.P - y0));
      cols[l] = int(std::min<int64_t>(M, tiling.Q - x0));
    }
  }
};

// The M x M outputs of kLanes tiles, result[i][j][l] (row i, column j, tile l), computed from the alpha^2
// rows of Mt (ld apart, kLanes tiles each): A^T m A.
template <int M>
KEYNET_INLINE void output_tiles(float (*result)[M][kLanes], const float* Mt, int64_t ld) {
  using X = Transforms<M>;
  constexpr int A = X::kAlpha;
  alignas(64) float half[A][M][kLanes];
  for (int xi = 0; xi < A; ++xi) {  // m A along each row
    const float* m_row[A];
    for (int nu = 0; nu < A; ++nu) m_row[nu] = Mt + (xi * A + nu) * ld;
    X::output(half[xi], m_row);
  }
  for (int j = 0; j < M; ++j) {  // then A^T (m A) down each column
    const float* column[A];
    for (int xi = 0; xi < A; ++xi) column[xi] = half[xi][j];
    float y[M][kLanes];
    X::output(y, column);
    for (int i = 0; i < M; ++i) std::copy(y[i], y[i] + kLanes, result[i][j]);
  }
}

// values[l * M + j] = row[j][l] + b: one row of kLanes output tiles, the tiles' columns interleaved.
template <int M>
KEYNET_INLINE void interleave_row(float* values, const float (*row)[kLanes], float b) {
  for (int l = 0; l < kLanes; ++l)
    for (int j = 0; j < M; ++j) values[l * M + j] = row[j][l] + b;
}

// transform_output where groups span rows: groups of kLanes consecutive tiles from any rows and images, each
// tile's rows stored to its place, instead of the row-by-row groups of 5 or fewer tiles that leave most lanes
// idle. Out of line like transform_input_gathered, so that the row-by-row loop's code stays as it was.
template <int M>
__attribute__((noinline)) void transform_output_gathered(float* out, const float* Mt, const float* bias, int K, int k0,
                                                         int k1, const Tiling<M>& tiling, const Block& block) {
  constexpr int A = Tiling<M>::kAlpha;
  const int64_t plane = tiling.P * tiling.Q;
  for (int64_t first = 0; first < block.count; first += kLanes) {
    const int lanes = int(std::min<int64_t>(kLanes, block.count - first));
    const TilePlaces<M> places(tiling, block.t0 + first, lanes, K * plane);
    for (int k = k0; k < k1; ++k) {
      alignas(64) float result[M][M][kLanes], values[kLanes * M];
      output_tiles<M>(result, Mt + int64_t(k - k0) * A * A * block.ld + first, block.ld);
      const float b = bias ? bias[k] : 0.0f;
      float* image = out + (places.n0 * K + k) * plane;
      for (int i = 0; i < M; ++i) {  // row i of every tile, then each tile's part of it to its place
        interleave_row<M>(values, result[i], b);
        for (int l = 0; l < lanes; ++l) {
          if (i >= places.rows[l]) continue;
          float* dst = image + places.offset[l] + i * tiling.Q;
          if (places.cols[l] == M)
            std::memcpy(dst, values + l * M, sizeof(float) * M);
          else
            std::copy(values + l * M, values + l * M + places.cols[l], dst);
        }
      }
    }
  }
}

// Output channels [k0, k1) of out (N, K, P, Q) for a block's tiles from Mt (alpha^2 x (k1 - k0) rows), plus bias
// (or null).
template <int M>
void transform_output(float* out, const float* Mt, const float* bias, int K, int k0, int k1, const Tiling<M>& tiling,
                      const Block& block) {
  constexpr int A = Tiling<M>::kAlpha;
  const int64_t plane = tiling.P * tiling.Q;
  if (groups_span_rows(tiling.TW)) return transform_output_gathered<M>(out, Mt, bias, K, k0, k1, tiling, block);
  for (int64_t first = 0; first < block.count;) {
    const Group g = group_at(tiling, block.t0 + first, block.count - first);
    const int64_t rows_here = std::min<int64_t>(M, tiling.P - g.ty * M);
    const int64_t x0 = g.tx0 * M, width = std::min<int64_t>(int64_t(g.lanes) * M, tiling.Q - x0);
    for (int k = k0; k < k1; ++k) {  // (lanes past g.lanes hold whatever follows)
      alignas(64) float result[M][M][kLanes], values[kLanes * M];
      output_tiles<M>(result, Mt + int64_t(k - k0) * A * A * block.ld + first, block.ld);
      const float b = bias ? bias[k] : 0.0f;
      for (int i = 0; i < rows_here; ++i) {  // each output row
        interleave_row<M>(values, result[i], b);
        float* dst = out + (g.n * K + k) * plane + (g.ty * M + i) * tiling.Q + x0;
        const int64_t whole = width / M * M;  // tiles inside the output: M values each, one fixed-size move
        for (int64_t x = 0; x < whole; x += M) std::memcpy(dst + x, values + x, sizeof(float) * M);
        for (int64_t x = whole; x < width; ++x) dst[x] = values[x];
      }
    }
    first += g.lanes;
  }
}

// transform_output_gradient with each group's tiles gathered (gathers_windows), apart like
// transform_input_gathered.
template <int M>
__attribute__((noinline)) void transform_output_gradient_gathered(float* Yhat, const float* dout, int K,
                                                                  const Tiling<M>& tiling, const Block& block) {
  using X = Transforms<M>;
  constexpr int A = X::kAlpha;
  const int64_t plane = tiling.P * tiling.Q;
  for (int64_t first = 0; first < block.count; first += kLanes) {
    const auto w = windows_of<M, M>(tiling, block.t0 + first, block.count - first, 0, tiling.P, tiling.Q, K * plane);
    for (int k = 0; k < K; ++k) {
      alignas(64) float columns[M][M][kLanes];
      gather_windows<M>(columns, dout + (w.n0 * K + k) * plane, w, tiling.Q);
      transform_tiles<M, A>(Yhat + int64_t(k) * A * A * block.ld + first, block.ld, columns,  // A dY A^T
                            [](float (*z)[kLanes], const float* const* y) { X::output_adjoint(z, y); });
    }
  }
}

// Yhat (alpha^2 x K rows) = A dY A^T for a block's tiles of dout (N, K, P, Q): the output gradient of
// each tile, zero past the output's edges.
template <int M>
void transform_output_gradient(float* Yhat, const float* dout, int K, const Tiling<M>& tiling, const Block& block) {
  using X = Transforms<M>;
  constexpr int A = X::kAlpha;
  const int64_t plane = tiling.P * tiling.Q;
  if (gathers_windows(tiling.TW, tiling.T / (tiling.TH * tiling.TW), K * plane))
    return transform_output_gradient_gathered<M>(Yhat, dout, K, tiling, block);
  for (int64_t first = 0; first < block.count;) {
    const Group g = group_at(tiling, block.t0 + first, block.count - first);
    const int64_t x0 = g.tx0 * M;
    for (int k = 0; k < K; ++k) {
      const float* dy = dout + (g.n * K + k) * plane;
      alignas(64) float columns[M][M][kLanes];
      for (int i = 0; i < M; ++i) {
        const int64_t y = g.ty * M + i;
        if (y < tiling.P) {
          split_row<M, M>(columns[i], dy + y * tiling.Q, x0, tiling.Q, int64_t(g.lanes) * M);
        } else {
          for (int j = 0; j < M; ++j) std::fill(columns[i][j], columns[i][j] + kLanes, 0.0f);
        }
      }
      transform_tiles<M, A>(Yhat + int64_t(k) * A * A * block.ld + first, block.ld, columns,  // A dY A^T
                            [](float (*z)[kLanes], const float* const* y) { X::output_adjoint(z, y); });
    }
    first += g.lanes;
  }
}

// Output channels [k0, k1) of out for one block of tiles: the input's transform (all channels), the alpha^2
// GEMMs on U's rows for those channels, the output's transform.
template <int M>
void forward_block(float* out, const float* inp, const TransformedFilters& U, const float* bias,
                   const ops::ConvDesc& d, const Tiling<M>& tiling, const Block& block, int k0, int k1) {
  constexpr int positions = Tiling<M>::kPositions;
  float* V = scratch(0, positions * d.C * block.ld);
  float* Mt = scratch(1, positions * (k1 - k0) * block.ld);
  transform_input<M>(V, inp, d, tiling, block, 0, d.C);
  for (int xi = 0; xi < positions; ++xi)
    sgemm_packed_a(*U.packed, xi * U.rows_per_position + k0, k1 - k0, block.count,
                   [&](float* panels, int64_t r0, int64_t rc, int64_t j0, int64_t nc, int NR) {
                     pack_b_panels(panels, V + xi * block.ld, positions * block.ld, false, r0, rc, j0, nc, NR);
                   },
                   Mt + xi * block.ld, positions * block.ld, false);
  transform_output<M>(out, Mt, bias, d.K, k0, k1, tiling, block);
}

// out (N, K, P, Q) = the convolution of inp (N, C, H, W) by the filters packed in U (see
// transformed_filters), plus bias; d describes this (forward-shaped) convolution. The threads share the
// blocks of tiles, or the output channels (share_channels): each thread then transforms the whole input
// and multiplies by its rows of U.
template <int M>
void forward(float* out, const float* inp, const TransformedFilters& U, const float* bias,
             const ops::ConvDesc& d, int threads) {
  const Tiling<M> tiling(d);
  const int64_t tile = tile_rows(U.packed->kernel());  // a thread's first row of U must start a panel
  if (share_channels(tiling.T, d.K, threads, tile)) {
#pragma omp parallel num_threads(threads)
    {
      const Range rows = split(d.K, omp_get_num_threads(), omp_get_thread_num(), tile);
      const Blocks blocks = blocks_of<M>(d.C, int(rows.size()), Range{0, tiling.T});
      for (int64_t b = 0; rows.size() > 0 && b < blocks.count(); ++b)
        forward_block<M>(out, inp, U, bias, d, tiling, blocks[b], int(rows.begin), int(rows.end));
    }
  } else {
#pragma omp parallel num_threads(threads)
    {
      const Range tiles = tiles_of_thread(tiling.T, omp_get_num_threads(), omp_get_thread_num());
      const Blocks blocks = blocks_of<M>(d.C, d.K, tiles);
      for (int64_t b = 0; b < blocks.count(); ++b) forward_block<M>(out, inp, U, bias, d, tiling, blocks[b], 0, d.K);
    }
  }
}

// Z[xi] (K, c1 - c0) (+)= Yhat[xi] (K, count) * V[xi]^T (count, c1 - c0) for one block's tiles and input
// channels [c0, c1): the alpha^2 GEMMs of the weight gradient, on both transforms of the block.
template <int M>
void accumulate_block(float* Z, const float* dout, const float* inp, const ops::ConvDesc& d, const Tiling<M>& tiling,
                      const Block& block, int c0, int c1, bool accumulate) {
  constexpr int positions = Tiling<M>::kPositions;
  const int channels = c1 - c0;
  float* V = scratch(0, positions * channels * block.ld);
  float* Yhat = scratch(1, positions * d.K * block.ld);
  transform_input<M>(V, inp, d, tiling, block, c0, c1);
  transform_output_gradient<M>(Yhat, dout, d.K, tiling, block);
  for (int xi = 0; xi < positions; ++xi)
    sgemm(false, true, d.K, channels, block.count, Yhat + xi * block.ld, positions * block.ld, V + xi * block.ld,
          positions * block.ld, Z + xi * int64_t(d.K) * channels, channels, accumulate);
}

// dweight (k, c) += G^T z G for kLanes pairs of Z's planes (K x channels, for input channels c0 + [0,
// channels) of C) from pair `first` on, where z is the sum of `count` partials `stride` floats apart,
// added in order.
template <int M>
void finish_pairs(float* dweight, const float* Z, int64_t stride, int count, int K, int channels, int c0, int C,
                  int64_t first) {
  using X = Transforms<M>;
  constexpr int A = X::kAlpha, positions = A * A;
  const int64_t plane = int64_t(K) * channels;
  const int lanes = int(std::min<int64_t>(kLanes, plane - first));
  alignas(64) float z[A][A][kLanes] = {}, rows[A][3][kLanes], g[3][3][kLanes];
  for (int xi = 0; xi < positions; ++xi)
    for (int t = 0; t < count; ++t) {
      const float* partial = Z + stride * t + xi * plane + first;
      for (int l = 0; l < lanes; ++l) z[xi / A][xi % A][l] += partial[l];
    }
  for (int i = 0; i < A; ++i) {  // z G along each row
    const float* row[A];
    for (int j = 0; j < A; ++j) row[j] = z[i][j];
    X::filter_adjoint(rows[i], row);
  }
  for (int s = 0; s < 3; ++s) {  // then G^T (z G) down each column
    const float* column[A];
    for (int i = 0; i < A; ++i) column[i] = rows[i][s];
    float result[3][kLanes];
    X::filter_adjoint(result, column);
    for (int r = 0; r < 3; ++r) std::copy(result[r], result[r] + kLanes, g[r][s]);
  }
  for (int l = 0; l < lanes; ++l) {
    const int64_t pair = first + l, k = pair / channels, c = c0 + pair % channels;
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) dweight[(k * C + c) * 9 + r * 3 + s] += g[r][s][l];
  }
}

// The threads share the work in one of two ways, each bit for bit the same run to run at a given thread
// count:
//   by tiles     each thread sums its blocks of tiles into a private Z over all channels; the partials
//                are then added in thread order. The partials cost threads x K x C floats per position to
//                write and add (75 MB for 512 -> 512 on two threads).
//   by channels  each thread takes a slice of the input channels, transforms their input and the whole
//                output gradient, and owns its slice of Z: nothing to add, but every thread repeats the
//                output gradient's transform (K values per tile and position).
// Channels where share_channels says so (ResNet18's 256- and 512-channel stages): there the partials would
// outweigh the repeated transforms.
template <int M>
void weight_gradient(float* dweight, float* dbias, const float* dout, const float* inp, const ops::ConvDesc& d,
                     int threads) {
  const Tiling<M> tiling(d);
  constexpr int positions = Tiling<M>::kPositions;
  if (share_channels(tiling.T, d.C, threads, 1)) {
#pragma omp parallel num_threads(threads)
    {
      const Range slice = split(d.C, omp_get_num_threads(), omp_get_thread_num());
      const int c0 = int(slice.begin), channels = int(slice.size());
      const Blocks blocks = blocks_of<M>(channels, d.K, Range{0, tiling.T});
      float* Z = scratch(2, positions * int64_t(d.K) * channels);
      for (int64_t b = 0; b < blocks.count(); ++b)
        accumulate_block<M>(Z, dout, inp, d, tiling, blocks[b], c0, c0 + channels, b > 0);
      const int64_t plane = int64_t(d.K) * channels;
      for (int64_t first = 0; first < plane; first += kLanes)
        finish_pairs<M>(dweight, Z, 0, 1, d.K, channels, c0, d.C, first);
    }
  } else {
    const int64_t plane = int64_t(d.K) * d.C, partial_size = positions * plane;
    float* partials = scratch(2, partial_size * threads);
#pragma omp parallel num_threads(threads)
    {
      const int team = omp_get_num_threads();
      float* Z = partials + partial_size * omp_get_thread_num();
      const Blocks blocks = blocks_of<M>(d.C, d.K, tiles_of_thread(tiling.T, team, omp_get_thread_num()));
      for (int64_t b = 0; b < blocks.count(); ++b)  // the first block assigns the partial, later ones add to it
        accumulate_block<M>(Z, dout, inp, d, tiling, blocks[b], 0, d.C, b > 0);
      if (blocks.count() == 0) std::fill(Z, Z + partial_size, 0.0f);
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t group = 0; group < (plane + kLanes - 1) / kLanes; ++group)
        finish_pairs<M>(dweight, partials, partial_size, team, d.K, d.C, 0, d.C, group * kLanes);
    }
  }
  if (dbias) {  // row sums of dout, image by image
    const int64_t plane_out = tiling.P * tiling.Q;
    for (int k = 0; k < d.K; ++k) {
      double sum = 0;
      for (int n = 0; n < d.N; ++n) {
        const float* dy = dout + (int64_t(n) * d.K + k) * plane_out;
        float partial = 0.0f;
        for (int64_t j = 0; j < plane_out; ++j) partial += dy[j];
        sum += partial;
      }
      dbias[k] += float(sum);
    }
  }
}

ConvAlgo algo_from_environment() {
  const char* text = std::getenv("KEYNET_CONV_ALGO");
  const std::string value = text ? text : "";
  if (value.empty() || value == "auto") return ConvAlgo::automatic;
  if (value == "gemm") return ConvAlgo::gemm;
  if (value == "winograd") return ConvAlgo::winograd;
  if (value == "direct") return ConvAlgo::direct;
  KEYNET_FAIL("KEYNET_CONV_ALGO must be auto, gemm, winograd or direct, not '", value, "'");
}

ConvAlgo& current_algo() {
  static ConvAlgo algo = algo_from_environment();
  return algo;
}

// The share of a tiling's points that lie inside the output.
template <int M>
double useful_share(const ops::ConvDesc& d) {
  const Tiling<M> tiling(d);
  return double(tiling.P * tiling.Q) / double(tiling.TH * tiling.TW * M * M);
}

}  // namespace

ConvAlgo conv_algo() { return current_algo(); }
void set_conv_algo(ConvAlgo algo) { current_algo() = algo; }

ops::ConvDesc data_gradient_desc(const ops::ConvDesc& d) {
  ops::ConvDesc flipped = d;
  flipped.C = d.K;
  flipped.K = d.C;
  flipped.H = d.P();
  flipped.W = d.Q();
  flipped.pad = d.R - 1 - d.pad;
  return flipped;
}

bool winograd_applies(const ops::ConvDesc& d) {
  return d.R == 3 && d.S == 3 && d.stride == 1 && d.pad <= 2 && d.P() > 0 && d.Q() > 0;
}

int winograd_tile(const ops::ConvDesc& d) { return useful_share<4>(d) >= 0.5 ? 4 : 2; }

bool winograd_pays(const ops::ConvDesc& d, ConvDirection direction) {
  // Measured by `bench_cpu --part algorithms` (BENCHMARKS.md). Per tile, Winograd saves GEMM work in
  // proportion to C * K and pays transforms in proportion to C + K: below C K / (C + K) = 16 (24 -> 32
  // channels, the NoseNet's 3x3: 13.7) its forward and data gradient lose to the GEMM's or tie; from 32 ->
  // 32 on they win. The GEMM's weight gradient costs more (the input's columns, transposed), and there
  // Winograd took 0.45x its time at the NoseNet's 13.7. And it loses where the tiles are mostly padding:
  // 4x4 tiles hold 64 points for a 5x5 map's 25 (0.39); 2x2 tiles hold 36 (0.69), the same GEMM work as
  // 4x4 tiles (16 positions of 9 tiles against 36 of 4) with fewer, wider GEMMs and a filter transform
  // 2.25x smaller, and there they win (7x7 in 4x4 tiles is 0.77 and 10x10 0.69: those keep 4x4).
  const int64_t least = direction == ConvDirection::weight_gradient ? 12 : 16;
  const double useful = winograd_tile(d) == 4 ? useful_share<4>(d) : useful_share<2>(d);
  return int64_t(d.C) * d.K >= least * (int64_t(d.C) + d.K) && useful >= 0.5;
}

bool uses_winograd(const ops::ConvDesc& d, ConvDirection direction) {
  const ops::ConvDesc shape = direction == ConvDirection::data_gradient ? data_gradient_desc(d) : d;
  if (!winograd_applies(d) || !winograd_applies(shape)) return false;
  switch (conv_algo()) {
    case ConvAlgo::gemm:
    case ConvAlgo::direct: return false;
    case ConvAlgo::winograd: return true;
    case ConvAlgo::automatic: return winograd_pays(shape, direction);
  }
  return false;
}

void winograd_conv2d_forward(float* out, const float* inp, const float* weight, const float* bias,
                             const ops::ConvDesc& d) {
  const int threads = kernel_threads();
  if (winograd_tile(d) == 2)
    forward<2>(out, inp, transformed_filters<2>(weight, d.K, d.C, false, threads), bias, d, threads);
  else
    forward<4>(out, inp, transformed_filters<4>(weight, d.K, d.C, false, threads), bias, d, threads);
}

void winograd_conv2d_backward_data(float* dinp, const float* dout, const float* weight, const ops::ConvDesc& d) {
  const int threads = kernel_threads();
  const ops::ConvDesc flipped = data_gradient_desc(d);
  if (winograd_tile(flipped) == 2)
    forward<2>(dinp, dout, transformed_filters<2>(weight, flipped.K, flipped.C, true, threads), nullptr, flipped,
               threads);
  else
    forward<4>(dinp, dout, transformed_filters<4>(weight, flipped.K, flipped.C, true, threads), nullptr, flipped,
               threads);
}

void winograd_conv2d_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp,
                                     const ops::ConvDesc& d) {
  if (winograd_tile(d) == 2)
    weight_gradient<2>(dweight, dbias, dout, inp, d, kernel_threads());
  else
    weight_gradient<4>(dweight, dbias, dout, inp, d, kernel_threads());
}

}  // namespace keynet::cpu::fast
