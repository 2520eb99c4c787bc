// Our tiled shared-memory SGEMM, shared by linear.cu and conv2d.cu:
//   C(m, n) = sum over k of A(m, k) * B(k, n),   m < M, n < N, k < Kdim.
// A and B are not matrices in memory but *loaders*: an implicit-GEMM convolution reads its im2col
// matrix straight from the image, and linear reads transposed views, with the same kernel.
//
// A loader has `line(mn)`, returning a small cursor for one row of A (one column of B) that has done
// the per-row index arithmetic once. Its `kContiguous` says whether consecutive k of a row are
// neighbours in memory, which decides how threads share the loading (see OperandTile):
//   kContiguous false: the cursor's `operator()(k)` returns the element (0 outside the matrix);
//   kContiguous true: `at(k)` does the per-k index arithmetic once into a Step, shared by the
//   thread's several rows, and the loader's `operator()(line, step)` returns the element. Cursors
//   are kept small (32-bit offsets where they fit): a thread holds several next to its 64
//   accumulators, and registers are what this kernel runs short of.
// A store has `operator()(m, n, split, value)` for the epilogue (bias, layout, accumulation).
//
// Block tile BM x BN (128x128, 64x128 or 64x64, chosen by gemm_plan), k-step 8, each thread holds
// an 8x8 register tile (two 4-wide halves, so float4 shared-memory reads are free of bank conflicts).
// Global loads of the next k-step go to registers while the current one is multiplied out of
// double-buffered shared memory. Split-K (when gemm_plan finds too few output tiles to fill the
// device): blockIdx.z takes one contiguous k-range; each output element is a sum in increasing k order
// within its range whatever the tile size, and the ranges are added in a fixed order by
// reduce_splits_kernel, never with atomics, so results are bitwise repeatable.
#pragma once
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "tensor/tensor.h"

namespace keynet::cuda {

constexpr int kGemmBK = 8;

// One operand's BK x ROWS tile in shared memory and the thread's share of loading it: element i of
// thread `tid` is (row, k) = (row_of(tid, i), k_of(tid, i)) of the tile.
// Loaders whose rows run along k in memory (kContiguous) get eight neighbouring threads on the eight
// k of one row: a warp then reads 4 rows' 32-byte sectors, where 32 threads on 32 rows would touch 32
// sectors per instruction and the L1 cache, not the multiply-adds, would set the pace. Each thread then
// loads one k of PER rows, so the per-k index arithmetic (Step) is done once for all of them. Other
// loaders (an im2col column runs along the image row) get neighbouring threads on neighbouring rows.
// The mapping decides only which thread loads an element, never where it lands, so results do not
// depend on it.
template <class Load, int ROWS, int THREADS>
struct OperandTile {
  static constexpr int BK = kGemmBK;
  static constexpr bool kAlongK = Load::kContiguous;
  static constexpr int PER = ROWS * BK / THREADS;  // elements each thread loads per k-step
  static constexpr int LINES = kAlongK ? PER : 1;  // row cursors each thread keeps
  static constexpr int PAD = 4;  // puts the eight k of one row in different banks; rows stay float4-aligned
  static_assert(THREADS % BK == 0 && THREADS % ROWS == 0 && (ROWS * BK) % THREADS == 0);
  using Smem = float[BK][ROWS + PAD];

  static __device__ int row_of(int tid, int i) { return kAlongK ? tid / BK + i * (THREADS / BK) : tid % ROWS; }
  static __device__ int k_of(int tid, int i) { return kAlongK ? tid % BK : tid / ROWS + i * (THREADS / ROWS); }

  typename Load::Line lines[LINES];
  float reg[PER];
  int tid;

  __device__ OperandTile(const Load& load, int first_row, int thread) : tid(thread) {
#pragma unroll
    for (int l = 0; l < LINES; ++l) lines[l] = load.line(first_row + row_of(tid, l));
  }
  // global -> registers: the k-step starting at k0, zeros at k >= k_end
  __device__ void fetch(const Load& load, int k0, int k_end) {
    if constexpr (kAlongK) {
      const int k = k0 + k_of(tid, 0);
      if (k < k_end) {
        const auto step = load.at(k);
#pragma unroll
        for (int i = 0; i < PER; ++i) reg[i] = load(lines[i], step);
      } else {
#pragma unroll
        for (int i = 0; i < PER; ++i) reg[i] = 0.0f;
      }
    } else {
#pragma unroll
      for (int i = 0; i < PER; ++i) {
        const int k = k0 + k_of(tid, i);
        reg[i] = k < k_end ? lines[0](k) : 0.0f;
      }
    }
  }
  // registers -> shared memory
  __device__ void store(Smem& tile) const {
#pragma unroll
    for (int i = 0; i < PER; ++i) tile[k_of(tid, i)][row_of(tid, i)] = reg[i];
  }
};

template <int BM, int BN, class ALoad, class BLoad, class Store>
__global__ void __launch_bounds__((BM / 8) * (BN / 8), 512 / ((BM / 8) * (BN / 8)))
    gemm_tiled_kernel(ALoad a, BLoad b, Store store, int M, int N, int Kdim, int k_chunk) {
  constexpr int BK = kGemmBK, TM = 8, TN = 8;
  constexpr int THREADS = (BM / TM) * (BN / TN);
  using ATile = OperandTile<ALoad, BM, THREADS>;
  using BTile = OperandTile<BLoad, BN, THREADS>;
  __shared__ __align__(16) typename ATile::Smem As[2];
  __shared__ __align__(16) typename BTile::Smem Bs[2];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int k_begin = blockIdx.z * k_chunk;
  const int k_end = min(Kdim, k_begin + k_chunk);

  ATile a_tile(a, m0, tid);
  BTile b_tile(b, n0, tid);
  auto load_global = [&](int k0) {
    a_tile.fetch(a, k0, k_end);
    b_tile.fetch(b, k0, k_end);
  };
  auto store_shared = [&](int buf) {
    a_tile.store(As[buf]);
    b_tile.store(Bs[buf]);
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  load_global(k_begin);
  store_shared(0);
  __syncthreads();
  int buf = 0;
  for (int k0 = k_begin; k0 < k_end; k0 += BK) {
    const bool more = k0 + BK < k_end;
    if (more) load_global(k0 + BK);
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      // rows ty*4 + {0..3} and BM/2 + ty*4 + {0..3}; columns likewise
      const float4 a_lo = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4]);
      const float4 a_hi = *reinterpret_cast<const float4*>(&As[buf][kk][BM / 2 + ty * 4]);
      const float4 b_lo = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4]);
      const float4 b_hi = *reinterpret_cast<const float4*>(&Bs[buf][kk][BN / 2 + tx * 4]);
      const float av[TM] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w, a_hi.x, a_hi.y, a_hi.z, a_hi.w};
      const float bv[TN] = {b_lo.x, b_lo.y, b_lo.z, b_lo.w, b_hi.x, b_hi.y, b_hi.z, b_hi.w};
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (more) store_shared(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int n = n0 + (j < 4 ? tx * 4 + j : BN / 2 + tx * 4 + (j - 4));
    if (n >= N) continue;
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + (i - 4));
      if (m < M) store(m, n, static_cast<int>(blockIdx.z), acc[i][j]);
    }
  }
}

// Split s writes its partial C(m, n) to partials[s][m][n]; reduce_splits_kernel adds them up afterwards.
struct PartialStore {
  float* partials;
  int M, N;
  __device__ void operator()(int m, int n, int split, float value) const {
    partials[(static_cast<long>(split) * M + m) * N + n] = value;
  }
};

// store(m, n, 0, partials[0][m][n] + partials[1][m][n] + ...), summed in that order; grid (x: n, y: m).
template <class Store>
__global__ void reduce_splits_kernel(Store store, const float* partials, int splits, int M, int N) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const long count = static_cast<long>(M) * N;
  for (int m = blockIdx.y; m < M; m += gridDim.y) {
    float sum = 0.0f;
    for (int s = 0; s < splits; ++s) sum += partials[s * count + static_cast<long>(m) * N + n];
    store(m, n, 0, sum);
  }
}

// Which block tile and how many k-ranges (split-K) a GEMM runs with. Few output tiles (a 7x7 or 14x14
// layer, a weight gradient) leave multiprocessors idle or unevenly loaded: the multiprocessor with the
// most blocks sets the time. Splitting k multiplies the blocks, at the price of writing and re-reading
// M x N partials. The plan depends only on the shape and the device, so results stay bitwise repeatable.
struct GemmPlan {
  int bm, bn, splits, k_chunk;
};

inline GemmPlan gemm_plan(int M, int N, int Kdim) {
  const long sms = multiprocessor_count();
  // tile, relative speed per multiply-add (larger tiles load less per multiply-add), blocks per SM
  struct Tile {
    int bm, bn;
    double speed;
    int resident;
  };
  constexpr Tile tiles[] = {{128, 128, 1.0, 2}, {64, 128, 0.9, 4}, {64, 64, 0.8, 8}};
  // Estimated cost in multiply-adds per multiprocessor. Blocks run in rounds of `resident` per
  // multiprocessor; a last, partial round leaves multiprocessors with fewer blocks, which hide
  // latency worse (taken as 0.7 + 0.3 x fill). Each partial element costs about as much as 26
  // multiply-adds (8 bytes of memory traffic at our GEMM's rate), plus a reduce launch. Estimates,
  // not measurements.
  GemmPlan best{128, 128, 1, Kdim};
  double best_cost = 0.0;
  for (const Tile& t : tiles) {
    const long tile_count = static_cast<long>((M + t.bm - 1) / t.bm) * ((N + t.bn - 1) / t.bn);
    for (int splits = 1; splits <= 64; ++splits) {
      const int k_chunk = ((Kdim + splits - 1) / splits + kGemmBK - 1) / kGemmBK * kGemmBK;
      if (splits > 1 && k_chunk < 128) break;
      if ((splits - 1) * k_chunk >= Kdim) continue;  // the last range would be empty
      const long blocks = tile_count * splits, slots = sms * t.resident;
      const long full_rounds = blocks / slots, tail = (blocks - full_rounds * slots + sms - 1) / sms;
      const double fill = static_cast<double>(tail) / t.resident;
      const double rounds_cost = full_rounds * t.resident + (tail > 0 ? tail / (0.7 + 0.3 * fill) : 0.0);
      double cost = rounds_cost * t.bm * t.bn * k_chunk / t.speed;
      if (splits > 1) cost += (26.0 * splits * M * N + 4.0e7) / sms;
      if (best_cost == 0.0 || cost < best_cost) {
        best = {t.bm, t.bn, splits, k_chunk};
        best_cost = cost;
      }
    }
  }
  return best;
}

template <int BM, int BN, class ALoad, class BLoad, class Store>
void gemm_launch(const ALoad& a, const BLoad& b, const Store& store, int M, int N, int Kdim, int splits, int k_chunk) {
  const dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM, splits);
  gemm_tiled_kernel<BM, BN><<<grid, (BM / 8) * (BN / 8)>>>(a, b, store, M, N, Kdim, k_chunk);
}

template <class ALoad, class BLoad, class Store>
void gemm_launch(const GemmPlan& plan, const ALoad& a, const BLoad& b, const Store& store, int M, int N, int Kdim) {
  if (plan.bm == 128)
    gemm_launch<128, 128>(a, b, store, M, N, Kdim, plan.splits, plan.k_chunk);
  else if (plan.bn == 128)
    gemm_launch<64, 128>(a, b, store, M, N, Kdim, plan.splits, plan.k_chunk);
  else
    gemm_launch<64, 64>(a, b, store, M, N, Kdim, plan.splits, plan.k_chunk);
}

// C = A * B through `store`, with the tile and split-K of gemm_plan. Split partials live in a scratch
// tensor from the caching allocator and reach `store` once each, summed in split order.
template <class ALoad, class BLoad, class Store>
void gemm(const ALoad& a, const BLoad& b, const Store& store, int M, int N, int Kdim, const char* name) {
  const GemmPlan plan = gemm_plan(M, N, Kdim);
  if (plan.splits == 1) {
    gemm_launch(plan, a, b, store, M, N, Kdim);
    KEYNET_CUDA_LAUNCHED(name);
    return;
  }
  Tensor partials = Tensor::empty({static_cast<int64_t>(plan.splits) * M * N}, Device::CUDA);
  gemm_launch(plan, a, b, PartialStore{partials.data<float>(), M, N}, M, N, Kdim);
  KEYNET_CUDA_LAUNCHED(name);
  const dim3 grid((N + kThreads - 1) / kThreads, std::min(M, 65535));
  reduce_splits_kernel<<<grid, kThreads>>>(store, partials.data<float>(), plan.splits, M, N);
  KEYNET_CUDA_LAUNCHED("reduce_splits");
}

// ---- loaders and stores shared by linear and conv

// Element (mn, k) at base[mn * mn_stride + k * k_stride], rows mn < extent. KContiguous: k_stride is 1
// (a hint for OperandTile's thread mapping; any strides give the right result).
template <bool KContiguous>
struct StridedLoad {
  static constexpr bool kContiguous = KContiguous;
  const float* base;
  int extent;
  long mn_stride, k_stride;
  struct Step {
    long offset;  // k * k_stride
  };
  struct Line {
    const float* row;  // null past the last row
    long k_stride;
    __device__ float operator()(int k) const { return row ? __ldg(row + k * k_stride) : 0.0f; }
  };
  __device__ Line line(int mn) const { return {mn < extent ? base + mn * mn_stride : nullptr, k_stride}; }
  __device__ Step at(int k) const { return {k * k_stride}; }
  __device__ float operator()(const Line& line, const Step& step) const {
    return line.row ? __ldg(line.row + step.offset) : 0.0f;
  }
};

// C(m, n) += value into a row-major M x N matrix (a parameter gradient).
struct AccumulateStore {
  float* c;
  int N;
  __device__ void operator()(int m, int n, int, float value) const { c[static_cast<long>(m) * N + n] += value; }
};

}  // namespace keynet::cuda
