// Our tiled shared-memory SGEMM, shared by linear.cu and conv2d.cu:
//   C(m, n) = sum over k of A(m, k) * B(k, n),   m < M, n < N, k < Kdim.
// A and B are not matrices in memory but *loaders*: an implicit-GEMM convolution reads its im2col
// matrix straight from the image, and linear reads transposed views, with the same kernel.
//
// A loader has `line(mn)`, returning a small cursor for one row of A (one column of B) that has done
// the per-row index arithmetic once; the cursor's `operator()(k)` returns the element, 0 outside.
// A store has `operator()(m, n, split, value)` for the epilogue (bias, layout, accumulation).
//
// Block tile BM x BN (128x128, 64x128 or 64x64 by problem size), k-step 8, each thread holds
// an 8x8 register tile (two 4-wide halves, so float4 shared-memory reads are free of bank conflicts).
// Global loads of the next k-step go to registers while the current one is multiplied out of
// double-buffered shared memory. Split-K: blockIdx.z takes one contiguous k-range; each output element
// is a sum in increasing k order within its range whatever the tile size, so results are bitwise
// repeatable (partials are combined in a fixed order by reduce_splits, never with atomics).
#pragma once
#include <algorithm>

#include "kernels/cuda/common.cuh"
#include "tensor/tensor.h"

namespace keynet::cuda {

constexpr int kGemmBK = 8;

template <int BM, int BN, class ALoad, class BLoad, class Store>
__global__ void __launch_bounds__((BM / 8) * (BN / 8), 512 / ((BM / 8) * (BN / 8)))
    gemm_tiled_kernel(ALoad a, BLoad b, Store store, int M, int N, int Kdim, int k_chunk) {
  constexpr int BK = kGemmBK, TM = 8, TN = 8;
  constexpr int THREADS = (BM / TM) * (BN / TN);
  constexpr int A_STEP = THREADS / BM, B_STEP = THREADS / BN;  // k rows loaded per pass
  constexpr int A_PER = BK / A_STEP, B_PER = BK / B_STEP;      // elements each thread loads per k-step
  static_assert(THREADS % BM == 0 && THREADS % BN == 0 && BK % A_STEP == 0 && BK % B_STEP == 0);
  __shared__ __align__(16) float As[2][BK][BM];
  __shared__ __align__(16) float Bs[2][BK][BN];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int k_begin = blockIdx.z * k_chunk;
  const int k_end = min(Kdim, k_begin + k_chunk);

  const int a_mn = tid % BM, a_k = tid / BM;
  const int b_mn = tid % BN, b_k = tid / BN;
  const auto a_line = a.line(m0 + a_mn);
  const auto b_line = b.line(n0 + b_mn);
  float a_reg[A_PER], b_reg[B_PER];
  auto load_global = [&](int k0) {
#pragma unroll
    for (int i = 0; i < A_PER; ++i) {
      const int k = k0 + a_k + i * A_STEP;
      a_reg[i] = k < k_end ? a_line(k) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < B_PER; ++i) {
      const int k = k0 + b_k + i * B_STEP;
      b_reg[i] = k < k_end ? b_line(k) : 0.0f;
    }
  };
  auto store_shared = [&](int buf) {
#pragma unroll
    for (int i = 0; i < A_PER; ++i) As[buf][a_k + i * A_STEP][a_mn] = a_reg[i];
#pragma unroll
    for (int i = 0; i < B_PER; ++i) Bs[buf][b_k + i * B_STEP][b_mn] = b_reg[i];
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

// How many k-ranges to split a GEMM into so that about eight 64x64 tiles per multiprocessor keep the
// device busy and evenly loaded, keeping at least 512 k per range (at most 64 ranges). Used for weight
// gradients, whose k (batch x pixels) is long and whose M x N (the weight) is small.
inline int gemm_split_count(int M, int N, int Kdim) {
  const long tiles = static_cast<long>((M + 63) / 64) * ((N + 63) / 64);
  const long wanted = (8L * multiprocessor_count() + tiles - 1) / tiles;
  const long most = std::max(1, Kdim / 512);
  return static_cast<int>(std::clamp(wanted, 1L, std::min(most, 64L)));
}

template <int BM, int BN, class ALoad, class BLoad, class Store>
void gemm_launch(const ALoad& a, const BLoad& b, const Store& store, int M, int N, int Kdim, int splits, int k_chunk) {
  const dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM, splits);
  gemm_tiled_kernel<BM, BN><<<grid, (BM / 8) * (BN / 8)>>>(a, b, store, M, N, Kdim, k_chunk);
}

// The largest block tile that still gives every multiprocessor a block: 128x128 (when M is over 64),
// then 64x128, then 64x64. The tile does not change any result, only the speed.
template <class ALoad, class BLoad, class Store>
void gemm(const ALoad& a, const BLoad& b, const Store& store, int M, int N, int Kdim, int splits, const char* name) {
  const int k_chunk = ((Kdim + splits - 1) / splits + kGemmBK - 1) / kGemmBK * kGemmBK;
  auto blocks = [&](int bm, int bn) { return static_cast<long>((M + bm - 1) / bm) * ((N + bn - 1) / bn) * splits; };
  const int sms = multiprocessor_count();
  if (M > 64 && blocks(128, 128) >= sms)
    gemm_launch<128, 128>(a, b, store, M, N, Kdim, splits, k_chunk);
  else if (blocks(64, 128) >= sms)
    gemm_launch<64, 128>(a, b, store, M, N, Kdim, splits, k_chunk);
  else
    gemm_launch<64, 64>(a, b, store, M, N, Kdim, splits, k_chunk);
  KEYNET_CUDA_LAUNCHED(name);
}

// ---- loaders and stores shared by linear and conv

// Element (mn, k) at base[mn * mn_stride + k * k_stride], rows mn < extent.
struct StridedLoad {
  const float* base;
  int extent;
  long mn_stride, k_stride;
  struct Line {
    const float* row;
    long k_stride;
    __device__ float operator()(int k) const { return row ? __ldg(row + k * k_stride) : 0.0f; }
  };
  __device__ Line line(int mn) const { return {mn < extent ? base + mn * mn_stride : nullptr, k_stride}; }
};

// C(m, n) += value into a row-major M x N matrix (a parameter gradient, split count 1).
struct AccumulateStore {
  float* c;
  int N;
  __device__ void operator()(int m, int n, int, float value) const { c[static_cast<long>(m) * N + n] += value; }
};

// Split s writes its partial C(m, n) to partials[s][m][n]; reduce_splits adds them up afterwards.
struct PartialStore {
  float* partials;
  int M, N;
  __device__ void operator()(int m, int n, int split, float value) const {
    partials[(static_cast<long>(split) * M + m) * N + n] = value;
  }
};

// c[i] += partials[0][i] + partials[1][i] + ... in that order, i < count.
void reduce_splits(float* c, const float* partials, int splits, long count);

// Weight-gradient GEMM: c (M x N, row-major) += A * B over a long k, split when that helps; the
// partials live in a scratch tensor from the caching allocator.
template <class ALoad, class BLoad>
void gemm_accumulate(float* c, const ALoad& a, const BLoad& b, int M, int N, int Kdim, const char* name) {
  const int splits = gemm_split_count(M, N, Kdim);
  if (splits == 1) return gemm(a, b, AccumulateStore{c, N}, M, N, Kdim, 1, name);
  Tensor partials = Tensor::empty({static_cast<int64_t>(splits) * M * N}, Device::CUDA);
  gemm(a, b, PartialStore{partials.data<float>(), M, N}, M, N, Kdim, splits, name);
  reduce_splits(c, partials.data<float>(), splits, static_cast<long>(M) * N);
}

}  // namespace keynet::cuda
