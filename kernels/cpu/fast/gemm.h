// Our own single-precision GEMM for the fast CPU kernels (BLIS-style: packed panels, cache blocking and
// a register-blocked AVX-512 or AVX2 micro-kernel), so that convolutions and linear layers do not depend
// on Eigen's product. Internal to kernels/cpu/fast.
//
// Row-major matrices with explicit leading dimensions (the distance between consecutive rows):
//   C[M,N] (=|+=) op(A)[M,K] * op(B)[K,N]
//   op(A) = A (M,K) with lda >= K, or A^T where A is (K,M) with lda >= M (transpose_a)
//   op(B) = B (K,N) with ldb >= N, or B^T where B is (N,K) with ldb >= K (transpose_b)
//   C (M,N) with ldc >= N; accumulate adds to C, otherwise C is overwritten (and never read).
// For a given micro-kernel, every element of C sums its K products in the same order whatever the
// thread count, so results repeat bit for bit.
#pragma once
#include <cstdint>

namespace keynet::cpu::fast {

// Which micro-kernel runs. automatic: KEYNET_GEMM_KERNEL=avx512|avx2|generic if set, otherwise the widest
// one the CPU supports. Tests force each one.
enum class GemmKernel { automatic, avx512, avx2, generic };

bool gemm_kernel_supported(GemmKernel kernel);
// The kernel `automatic` resolves to on this machine (and environment).
GemmKernel gemm_default_kernel();
const char* to_string(GemmKernel kernel);

// Cache blocking in elements: mc rows of op(A) by kc of the reduction are packed at a time (the L3 block),
// and kc by nc columns of op(B) (the L2 block). Zero fields take the kernel's defaults; tests pass small
// values so that every blocking edge is crossed on small matrices. mc and nc are rounded up to multiples of
// the micro-kernel's tile.
struct GemmBlocking {
  int64_t mc = 0, kc = 0, nc = 0;
};

// Single-threaded: runs on the calling thread, with that thread's packing buffers.
void sgemm(bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate,
           GemmKernel kernel = GemmKernel::automatic, GemmBlocking blocking = {});

// The whole product over `threads` OpenMP threads: the rows or the columns of C (whichever splits into
// micro-tiles more evenly) cut into one static block per thread.
void sgemm_parallel(int threads, bool transpose_a, bool transpose_b, int64_t M, int64_t N, int64_t K,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate,
                    GemmKernel kernel = GemmKernel::automatic);

}  // namespace keynet::cpu::fast
