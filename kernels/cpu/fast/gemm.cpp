// Our SGEMM (see gemm.h): BLIS's five loops around a register-blocked micro-kernel.
//
//   for jc in N step nc:              op(B) block kc x nc packed into NR-column micro-panels (L2)
//     for pc in K step kc:
//       for ic in M step mc:          op(A) block mc x kc packed into MR-row micro-panels (L3)
//         for ir in mc step MR:       one A micro-panel MR x kc (L1), reused by every B micro-panel
//           for jr in nc step NR:     micro-kernel: C tile MR x NR += A panel * B panel, in registers
// (Eigen's order. BLIS's, jr outside ir with the A block in L2, measured 240-260 GF/s at 2048^3 on two
// threads against 270-285 for this one.)
//
// Packing pads partial micro-panels with zeros, so the micro-kernel always runs a full MR x NR tile; only
// its load and store of C are limited (masked) to the m x n elements that exist. Packing reads only
// elements inside op(A) and op(B), so nothing past the ends of the inputs is touched.
//
// Micro-kernels (the accumulators must cover the FMA latency: 2 FMA ports x 4 cycles = at least 8
// independent accumulators, and the loads per FMA must stay within the 2 load ports):
//   avx512  8 x 48: 24 zmm accumulators + 3 zmm of B + 1 broadcast of A = 28 of the 32 registers. Each
//           step of k does 3 loads of B and 8 broadcasts for 24 FMAs: 11 loads per 24 FMAs, under the
//           2-loads-per-FMA-cycle limit. Measured on one core with the operands in cache, 14x32, 12x32,
//           8x48, 6x64 and 8x32 all came to 147-151 GF/s (92% of the FMA peak); 8 rows divide the
//           power-of-two channel counts of convolutions (14 rows waste 9% of the tiles at 64 or 128
//           rows), and 8x48 ran ResNet18's forward convolutions 1-9% faster than 14x32.
//   avx2    6 x 16: 12 ymm accumulators + 2 ymm of B + 1 broadcast = 15 of the 16 registers; 8 loads
//           per 12 FMAs.
//   generic 6 x 16 in plain C++, for CPUs with neither (and as a third check of the drivers).
#include "kernels/cpu/fast/gemm.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "kernels/cpu/fast/parallel.h"

namespace keynet::cpu::fast {

namespace {

// C tile (m <= MR rows, n <= NR columns, row stride ldc) (=|+=) a * b over kc steps, where a holds kc
// groups of MR values of op(A) and b kc groups of NR values of op(B), both 64-byte aligned.
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                             bool accumulate);

constexpr int kAvx512Rows = 8, kAvx512Cols = 48;

// The first 16 * V of the 48 columns: V = 3 is the full tile; V = 1 and 2 serve a last micro-panel of at
// most 16 or 32 columns without multiplying the zero padding past them (a 49-column product is one full
// tile and one 16-column one, not two full tiles). Each element sums its products in the same order
// whatever V, so the choice never changes a result.
template <int V>
__attribute__((target("avx512f,avx512vl,fma"))) void micro_kernel_avx512(int64_t kc, const float* a,
                                                                          const float* b, float* c, int64_t ldc,
                                                                          int m, int n, bool accumulate) {
  constexpr int MR = kAvx512Rows;
  __m512 acc[MR][V];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 3
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += kAvx512Cols;
  }
  // Lanes past column n are masked off: never loaded, never stored.
  __mmask16 mask[V];
#pragma GCC unroll 3
  for (int v = 0; v < V; ++v) mask[v] = first_lanes(n - 16 * v);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* row = c + i * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < V; ++v) {
      if (accumulate) acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(mask[v], row + 16 * v));
      _mm512_mask_storeu_ps(row + 16 * v, mask[v], acc[i][v]);
    }
  }
}

constexpr int kAvx2Rows = 6, kAvx2Cols = 16;

__attribute__((target("avx2,fma"))) void micro_kernel_avx2(int64_t kc, const float* a, const float* b, float* c,
                                                           int64_t ldc, int m, int n, bool accumulate) {
  constexpr int MR = kAvx2Rows;
  for (int i = 0; i < m; ++i) {  // C's tile, needed at the end: fetched while the products run
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kAvx2Cols - 1), _MM_HINT_T0);
  }
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;
    b += kAvx2Cols;
  }
  // Whole 16-column rows by plain moves; masks only for a last partial panel (AMD microcodes masked stores,
  // many times slower).
  const bool whole = n == kAvx2Cols;
  const __m256i mask0 = lanes_below(n), mask1 = lanes_below(n - 8);
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* row = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_ps(acc[i][0], whole ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, mask0));
      acc[i][1] = _mm256_add_ps(acc[i][1], whole ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, mask1));
    }
    if (whole) {
      _mm256_storeu_ps(row, acc[i][0]);
      _mm256_storeu_ps(row + 8, acc[i][1]);
    } else {
      _mm256_maskstore_ps(row, mask0, acc[i][0]);
      _mm256_maskstore_ps(row + 8, mask1, acc[i][1]);
    }
  }
}

constexpr int kGenericRows = 6, kGenericCols = 16;

void micro_kernel_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                          bool accumulate) {
  float acc[kGenericRows][kGenericCols] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kGenericRows; ++i)
      for (int j = 0; j < kGenericCols; ++j) acc[i][j] += a[i] * b[j];
    a += kGenericRows;
    b += kGenericCols;
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

struct KernelSpec {
  MicroKernel run;
  int MR, NR;
  GemmBlocking blocking;
  // For a last micro-panel of at most 16 or 32 columns, where the kernel has them (null: `run`).
  MicroKernel run16 = nullptr, run32 = nullptr;
  MicroKernel for_columns(int n) const {
    if (n <= 16 && run16) return run16;
    if (n <= 32 && run32) return run32;
    return run;
  }
};

// Blocking from the cache sizes of the machines we run on (Sapphire Rapids: L1d 48 KiB, L2 2 MiB per
// core, a large shared L3):
//   kc: the A micro-panel (MR x kc) stays in L1 while the B micro-panels (kc x NR) stream through it from
//       L2: a B micro-panel at about half of L1, 24 KiB, leaves room for both.
//       avx512: 192 (as measured for 14x32: a B micro-panel of 36 KiB, an A micro-panel of 6 KiB);
//       avx2: 24 KiB / (16 * 4 B) = 384 (A micro-panel 9 KiB).
//   nc: the packed B block (kc x nc) is reused by every A micro-panel of the A block: about half of L2,
//       1 MiB. avx512: 1 MiB / (192 * 4 B) = 1365, rounded down to 28 tiles of 48 = 1344;
//       avx2: 1 MiB / (384 * 4 B) = 682, rounded down to 42 tiles of 16 = 672.
//   mc: the packed A block (mc x kc) is read once per B block; it lives in L3: 1360 rows (170 tiles of 8,
//       1 MiB) for avx512, 678 (113 tiles of 6, 1 MiB) for avx2.
const KernelSpec& spec(GemmKernel kernel) {
  static const KernelSpec avx512{micro_kernel_avx512<3>, kAvx512Rows, kAvx512Cols, {1360, 192, 1344},
                                 micro_kernel_avx512<1>, micro_kernel_avx512<2>};
  static const KernelSpec avx2{micro_kernel_avx2, kAvx2Rows, kAvx2Cols, {678, 384, 672}};
  static const KernelSpec generic{micro_kernel_generic, kGenericRows, kGenericCols, {678, 384, 672}};
  switch (kernel) {
    case GemmKernel::avx512: return avx512;
    case GemmKernel::avx2: return avx2;
    case GemmKernel::generic: return generic;
    case GemmKernel::automatic: break;
  }
  return spec(gemm_default_kernel());
}

GemmKernel resolve(GemmKernel kernel) {
  const GemmKernel resolved = kernel == GemmKernel::automatic ? gemm_default_kernel() : kernel;
  if (!gemm_kernel_supported(resolved))
    throw std::runtime_error(std::string("sgemm: this CPU cannot run the ") + to_string(resolved) + " kernel");
  return resolved;
}

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// 64-byte aligned float buffers that only grow, one pair per thread, so steady-state calls do not allocate.
struct PackBuffers {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> a, b;
  int64_t a_size = 0, b_size = 0;

  static float* reserve(std::unique_ptr<float, Free>& buffer, int64_t& size, int64_t count) {
    if (count > size) {
      const auto bytes = static_cast<std::size_t>(round_up(count * int64_t(sizeof(float)), 64));
      buffer.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!buffer) throw std::bad_alloc();
      size = count;
    }
    return buffer.get();
  }
};

PackBuffers& pack_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

// dst[j * width + i] = rows[i][k + j] for i, j < 8: an 8x8 block transposed in registers (24 shuffles for
// 64 values instead of 64 scattered stores).
__attribute__((target("avx2"), always_inline)) inline void transpose8x8(const float* const* rows, int64_t k,
                                                                         float* dst, int64_t width) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(rows[i] + k);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      r[i + 2 * h] = _mm256_shuffle_ps(t[i + h], t[i + 2 + h], 0x44);      // a b c d at k = 2h (+4)
      r[i + 2 * h + 1] = _mm256_shuffle_ps(t[i + h], t[i + 2 + h], 0xEE);  // a b c d at k = 2h + 1 (+4)
    }
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(dst + k * width, _mm256_permute2f128_ps(r[k], r[k + 4], 0x20));
    _mm256_storeu_ps(dst + (k + 4) * width, _mm256_permute2f128_ps(r[k], r[k + 4], 0x31));
  }
}

// The rows [first, count) one value at a time, then the zeros.
void interleave_rest(float* out, int width, const float* src, int64_t ld, int first, int count, int64_t kc) {
  for (int i = first; i < count; ++i)
    for (int64_t k = 0; k < kc; ++k) out[k * width + i] = src[i * ld + k];
  const int read = std::min(width, (count + 15) / 16 * 16);
  if (count < read)
    for (int64_t k = 0; k < kc; ++k) std::fill(out + k * width + count, out + k * width + read, 0.0f);
}

// Whole 8-row groups through 8x8 transposes (each group's last kc % 8 steps one by one); then the rows left
// (the AVX2 micro-kernel's panels have 6) through the same transposes with the missing rows repeating the
// last one, into a small block whose first values of each k are copied out.
__attribute__((target("avx2"))) void interleave_rows_avx2(float* out, int width, const float* src, int64_t ld,
                                                         int count, int64_t kc) {
  int i = 0;
  for (; i < count; i += 8) {
    const int group = std::min(8, count - i);
    const float* rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = src + (i + std::min(r, group - 1)) * ld;
    int64_t k = 0;
    if (group == 8) {
      for (; k + 8 <= kc; k += 8) transpose8x8(rows, k, out + k * width + i, width);
    } else {
      alignas(32) float block[8 * 8];
      for (; k + 8 <= kc; k += 8) {
        transpose8x8(rows, k, block, 8);
        for (int j = 0; j < 8; ++j) {
          float* to = out + (k + j) * width + i;
          if (group == kAvx2Rows)  // a fixed size: two moves, not a call to memcpy
            std::memcpy(to, block + j * 8, sizeof(float) * kAvx2Rows);
          else
            std::memcpy(to, block + j * 8, sizeof(float) * group);
        }
      }
    }
    for (; k < kc; ++k)
      for (int r = 0; r < group; ++r) out[k * width + i + r] = rows[r][k];
  }
}

// out[k * width + i] = row i's k-th value (row i at src + i * ld) for i < count, k < kc: the layout of a
// packed micro-panel, built from matrix rows that run along k (8x8 transposes on AVX2 CPUs). The rows
// [count, width) are zeroed as far as a micro-kernel reads them: to the next multiple of 16 (the edge
// kernels read no further).
void interleave_rows(float* out, int width, const float* src, int64_t ld, int count, int64_t kc) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) interleave_rows_avx2(out, width, src, ld, count, kc);
  interleave_rest(out, width, src, ld, avx2 ? count : 0, count, kc);
}

// Rows [i0, i0 + mc) and reduction steps [k0, k0 + kc) of op(A) into micro-panels of MR rows: panel p holds
// kc groups of MR values (rows p*MR .. p*MR + MR - 1 at one k), the rows past mc as zeros.
void pack_a(float* packed, const float* A, int64_t lda, bool transpose_a, int64_t i0, int64_t mc, int64_t k0,
            int64_t kc, int MR) {
  for (int64_t p = 0; p < mc; p += MR) {
    const int rows = int(std::min<int64_t>(MR, mc - p));
    float* dst = packed + p * kc;
    if (transpose_a) {  // op(A)[i, k] = A[k, i]: each k's MR values are contiguous
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + i0 + p;
        float* out = dst + k * MR;
        std::memcpy(out, src, sizeof(float) * rows);
        std::fill(out + rows, out + MR, 0.0f);
      }
    } else {  // op(A)[i, k] = A[i, k]: each row runs along k
      interleave_rows(dst, MR, A + (i0 + p) * lda + k0, lda, rows, kc);
    }
  }
}

// C (m_total x nc, row stride ldc) (=|+=) the A panels (MR rows by kc each, kc * MR apart) times the B
// panels (kc by NR each): the two innermost loops, an A micro-panel in L1 against every B micro-panel.
void multiply_panels(const KernelSpec& s, int64_t m_total, int64_t nc, int64_t kc, const float* packed_a,
                     const float* packed_b, float* C, int64_t ldc, bool add) {
  for (int64_t ir = 0; ir < m_total; ir += s.MR) {
    const int m = int(std::min<int64_t>(s.MR, m_total - ir));
    for (int64_t jr = 0; jr < nc; jr += s.NR) {
      const int n = int(std::min<int64_t>(s.NR, nc - jr));
      s.for_columns(n)(kc, packed_a + ir * kc, packed_b + jr * kc, C + ir * ldc + jr, ldc, m, n, add);
    }
  }
}

// A product with an empty reduction: C = 0, or unchanged when accumulating.
void empty_product(int64_t M, int64_t N, float* C, int64_t ldc, bool accumulate) {
  if (!accumulate)
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
}

}  // namespace

// Reduction steps [k0, k0 + kc) and columns [j0, j0 + nc) of op(B) into micro-panels of NR columns: panel p
// holds kc groups of NR values (columns p*NR .. p*NR + NR - 1 at one k), the columns past nc as zeros (as far
// as the micro-kernels read).
void pack_b_panels(float* packed, const float* B, int64_t ldb, bool transpose_b, int64_t k0, int64_t kc,
                   int64_t j0, int64_t nc, int NR) {
  for (int64_t p = 0; p < nc; p += NR) {
    const int cols = int(std::min<int64_t>(NR, nc - p));
    float* dst = packed + p * kc;
    if (!transpose_b) {  // op(B)[k, j] = B[k, j]: each k's NR values are contiguous
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = B + (k0 + k) * ldb + j0 + p;
        float* out = dst + k * NR;
        // whole panels by fixed-size copies, which compile to vector moves instead of a call to memcpy
        if (cols == kAvx512Cols && NR == kAvx512Cols) {
          std::memcpy(out, src, sizeof(float) * kAvx512Cols);
        } else if (cols == kAvx2Cols && NR == kAvx2Cols) {
          std::memcpy(out, src, sizeof(float) * kAvx2Cols);
        } else {
          std::memcpy(out, src, sizeof(float) * cols);
          std::fill(out + cols, out + NR, 0.0f);
        }
      }
    } else {  // op(B)[k, j] = B[j, k]: each row of B runs along k
      interleave_rows(dst, NR, B + (j0 + p) * ldb + k0, ldb, cols, kc);
    }
  }
}

bool gemm_kernel_supported(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::avx512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                                    __builtin_cpu_supports("fma");
    case GemmKernel::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmKernel::generic:
    case GemmKernel::automatic: return true;
  }
  return false;
}

GemmKernel gemm_default_kernel() {
  static const GemmKernel chosen = [] {
    if (const char* name = std::getenv("KEYNET_GEMM_KERNEL")) {
      for (GemmKernel k : {GemmKernel::avx512, GemmKernel::avx2, GemmKernel::generic})
        if (std::string(name) == to_string(k)) return k;
      throw std::runtime_error(std::string("KEYNET_GEMM_KERNEL=") + name + ": expected avx512, avx2 or generic");
    }
    if (gemm_kernel_supported(GemmKernel::avx512)) return GemmKernel::avx512;
    if (gemm_kernel_supported(GemmKernel::avx2)) return GemmKernel::avx2;
    return GemmKernel::generic;
  }();
  return chosen;
}

const char* to_string(GemmKernel kernel) {
  switch (kernel) {
    case GemmKernel::automatic: return "automatic";
    case GemmKernel::avx512: return "avx512";
    case GemmKernel::avx2: return "avx2";
    case GemmKernel::generic: return "generic";
  }
  return "?";
}

namespace {
// BLIS's loops with op(B) packed by pack_b (sgemm's: pack_b_panels).
void sgemm_driver(bool transpose_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  const PackB& pack_b, float* C, int64_t ldc, bool accumulate, GemmKernel kernel,
                  GemmBlocking blocking) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return empty_product(M, N, C, ldc, accumulate);
  const KernelSpec& s = spec(resolve(kernel));
  const int64_t MC = round_up(blocking.mc > 0 ? blocking.mc : s.blocking.mc, s.MR);
  const int64_t KC = blocking.kc > 0 ? blocking.kc : s.blocking.kc;
  const int64_t NC = round_up(blocking.nc > 0 ? blocking.nc : s.blocking.nc, s.NR);
  PackBuffers& buffers = pack_buffers();
  const int64_t kc_max = std::min(KC, K);
  float* packed_a = PackBuffers::reserve(buffers.a, buffers.a_size, std::min(MC, round_up(M, s.MR)) * kc_max);
  float* packed_b = PackBuffers::reserve(buffers.b, buffers.b_size, std::min(NC, round_up(N, s.NR)) * kc_max);
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const bool add = accumulate || pc > 0;  // later reduction blocks add to the first one's result
      pack_b(packed_b, pc, kc, jc, nc, s.NR);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        pack_a(packed_a, A, lda, transpose_a, ic, mc, pc, kc, s.MR);
        multiply_panels(s, mc, nc, kc, packed_a, packed_b, C + ic * ldc + jc, ldc, add);
      }
    }
  }
}
}  // namespace

void sgemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate, GemmKernel kernel,
           GemmBlocking blocking) {
  const auto pack_b = [&](float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR) {
    pack_b_panels(panels, B, ldb, transpose_b, k0, kc, j0, nc, NR);
  };
  sgemm_driver(transpose_a, M, N, K, A, lda, pack_b, C, ldc, accumulate, kernel, blocking);
}

void sgemm_pack_b(bool transpose_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  const PackB& pack_b, float* C, int64_t ldc, bool accumulate, GemmKernel kernel) {
  sgemm_driver(transpose_a, M, N, K, A, lda, pack_b, C, ldc, accumulate, kernel, {});
}

namespace {
// The share of the work a static split of `extent` into tiles of `tile` over `threads` keeps useful: 1 when
// every thread gets the same number of full tiles.
double split_efficiency(int64_t extent, int64_t tile, int threads) {
  const int64_t tiles = (extent + tile - 1) / tile;
  const int64_t per_thread = (tiles + threads - 1) / threads;
  return double(extent) / double(per_thread * threads * tile);
}
}  // namespace

void sgemm_parallel(int threads, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate,
                    GemmKernel kernel) {
  const GemmKernel resolved = resolve(kernel);
  if (threads <= 1) {
    sgemm(transpose_a, transpose_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate, resolved);
    return;
  }
  const KernelSpec& s = spec(resolved);
  const bool split_columns = split_efficiency(N, s.NR, threads) >= split_efficiency(M, s.MR, threads);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    if (split_columns) {
      const Range cols = split(N, team, t, s.NR);
      const float* B_block = transpose_b ? B + cols.begin * ldb : B + cols.begin;
      sgemm(transpose_a, transpose_b, M, cols.size(), K, A, lda, B_block, ldb, C + cols.begin, ldc, accumulate,
            resolved);
    } else {
      const Range rows = split(M, team, t, s.MR);
      const float* A_block = transpose_a ? A + rows.begin : A + rows.begin * lda;
      sgemm(transpose_a, transpose_b, rows.size(), N, K, A_block, lda, B, ldb, C + rows.begin * ldc, ldc,
            accumulate, resolved);
    }
  }
}

void PackedA::Free::operator()(float* p) const { std::free(p); }

namespace {
// The storage of the last PackedA a thread released, kept for its next one: a convolution packs its
// weights on every call, and a fresh allocation of that size costs page faults each time.
struct SpareStorage {
  std::unique_ptr<float, PackedA::Free> data;
  std::size_t bytes = 0;
};
SpareStorage& spare_storage() {
  thread_local SpareStorage spare;
  return spare;
}
}  // namespace

PackedA::~PackedA() {
  SpareStorage& spare = spare_storage();
  if (data_ && bytes_ > spare.bytes) {
    spare.data = std::move(data_);
    spare.bytes = bytes_;
  }
}

PackedA::PackedA(bool transpose_a, int64_t M, int64_t K, const float* A, int64_t lda, int threads,
                 GemmKernel kernel)
    : M_(M), K_(K), kernel_(resolve(kernel)) {
  allocate();
  const KernelSpec& s = spec(kernel_);
  const int64_t KC = s.blocking.kc, row_panels = padded_rows_ / s.MR, blocks = (K + KC - 1) / KC;
  float* packed = data_.get();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int64_t i = 0; i < blocks * row_panels; ++i) {
    const int64_t k0 = i / row_panels * KC, ir = i % row_panels * s.MR, kc = std::min(KC, K - k0);
    pack_a(packed + k0 * padded_rows_ + ir * kc, A, lda, transpose_a, ir, std::min<int64_t>(s.MR, M - ir), k0, kc,
           s.MR);
  }
}

PackedA::PackedA(int64_t M, int64_t K, GemmKernel kernel) : M_(M), K_(K), kernel_(resolve(kernel)) {
  allocate();
  const int64_t MR = spec(kernel_).MR, ir = M / MR * MR;
  if (ir == M) return;
  for (int64_t k = 0; k < K; ++k) std::fill_n(data_.get() + offset(M, k), ir + MR - M, 0.0f);
}

void PackedA::allocate() {
  const KernelSpec& s = spec(kernel_);
  padded_rows_ = round_up(std::max<int64_t>(M_, 1), s.MR);
  const auto bytes = static_cast<std::size_t>(round_up(padded_rows_ * std::max<int64_t>(K_, 1) * 4, 64));
  SpareStorage& spare = spare_storage();
  if (spare.data && spare.bytes >= bytes) {
    data_ = std::move(spare.data);
    bytes_ = spare.bytes;
    spare.bytes = 0;
  } else {
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!data_) throw std::bad_alloc();
    bytes_ = bytes;
  }
}

int64_t PackedA::kc_of(int64_t k) const {
  const int64_t KC = spec(kernel_).blocking.kc;
  return std::min(KC, K_ - k / KC * KC);
}

int64_t PackedA::offset(int64_t i, int64_t k) const {
  const int64_t KC = spec(kernel_).blocking.kc, MR = spec(kernel_).MR, k0 = k / KC * KC, ir = i / MR * MR;
  return k0 * padded_rows_ + ir * kc_of(k) + (k - k0) * MR + (i - ir);
}

const float* PackedA::block(int64_t k0, int64_t ir) const {
  const int64_t kc = std::min(spec(kernel_).blocking.kc, K_ - k0);
  return data_.get() + k0 * padded_rows_ + ir * kc;
}

int tile_rows(GemmKernel kernel) { return spec(resolve(kernel)).MR; }

void sgemm_packed_a(const PackedA& a, int64_t N, const PackB& pack_b, float* C, int64_t ldc, bool accumulate) {
  sgemm_packed_a(a, 0, a.rows(), N, pack_b, C, ldc, accumulate);
}

namespace {
// The loops of sgemm_packed_a; b_block(pc, kc, jc, nc) gives the packed block of op(B) (packing it first, or
// finding it packed earlier).
template <class BlockOfB>
void packed_a_loops(const PackedA& a, int64_t row0, int64_t M, int64_t N, const BlockOfB& b_block, float* C,
                    int64_t ldc, bool accumulate) {
  const int64_t K = a.depth();
  if (row0 % spec(a.kernel()).MR != 0 || row0 < 0 || row0 + M > a.rows())
    throw std::invalid_argument("sgemm_packed_a: rows must start on a tile and lie inside the packed matrix");
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return empty_product(M, N, C, ldc, accumulate);
  const KernelSpec& s = spec(a.kernel());
  const int64_t KC = s.blocking.kc, NC = s.blocking.nc;
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const bool add = accumulate || pc > 0;
      multiply_panels(s, M, nc, kc, a.block(pc, row0), b_block(pc, kc, jc, nc), C + jc, ldc, add);
    }
  }
}
}  // namespace

void sgemm_packed_a(const PackedA& a, int64_t row0, int64_t M, int64_t N, const PackB& pack_b, float* C,
                    int64_t ldc, bool accumulate) {
  const KernelSpec& s = spec(a.kernel());
  PackBuffers& buffers = pack_buffers();
  const int64_t block_size = std::min(s.blocking.nc, round_up(N, s.NR)) * std::min(s.blocking.kc, a.depth());
  float* packed_b = PackBuffers::reserve(buffers.b, buffers.b_size, block_size);
  packed_a_loops(a, row0, M, N, [&](int64_t pc, int64_t kc, int64_t jc, int64_t nc) {
    pack_b(packed_b, pc, kc, jc, nc, s.NR);
    return static_cast<const float*>(packed_b);
  }, C, ldc, accumulate);
}

// Block (pc, jc) of a whole packed op(B) starts after the jc columns of the earlier column blocks (all K
// deep) and the pc steps of this one (round_up(nc, NR) wide).
int64_t packed_b_size(GemmKernel kernel, int64_t K, int64_t N) {
  return round_up(std::max<int64_t>(N, 1), spec(resolve(kernel)).NR) * std::max<int64_t>(K, 1);
}

void pack_b_whole(float* packed, GemmKernel kernel, int64_t K, int64_t N, const float* B, int64_t ldb,
                  bool transpose_b) {
  const KernelSpec& s = spec(resolve(kernel));
  for (int64_t jc = 0; jc < N; jc += s.blocking.nc) {
    const int64_t nc = std::min(s.blocking.nc, N - jc);
    for (int64_t pc = 0; pc < K; pc += s.blocking.kc)
      pack_b_panels(packed + jc * K + pc * round_up(nc, s.NR), B, ldb, transpose_b, pc,
                    std::min(s.blocking.kc, K - pc), jc, nc, s.NR);
  }
}

void sgemm_packed_a(const PackedA& a, int64_t row0, int64_t M, int64_t N, const float* packed_b, float* C,
                    int64_t ldc, bool accumulate) {
  const KernelSpec& s = spec(a.kernel());
  const int64_t K = a.depth();
  packed_a_loops(a, row0, M, N, [&](int64_t pc, int64_t, int64_t jc, int64_t nc) {
    return packed_b + jc * K + pc * round_up(nc, s.NR);
  }, C, ldc, accumulate);
}

}  // namespace keynet::cpu::fast
