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
#include <functional>
#include <memory>

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

// ---- op(A) packed once, op(B) packed by the caller: for products that share A (a convolution's weights,
// multiplied by each image's column matrix) and whose B is cheaper to build straight into packed form
// (the column matrix, gathered from the image without writing it out first).

// op(A) packed whole into the kernel's micro-panels: block after block of the reduction (kc steps each),
// each block holding the MR-row panels of all M rows. Read-only once built, so threads share it.
class PackedA {
 public:
  // Packs with up to `threads` OpenMP threads.
  PackedA(bool transpose_a, int64_t M, int64_t K, const float* A, int64_t lda, int threads,
          GemmKernel kernel = GemmKernel::automatic);
  // For a caller that writes op(A)'s elements straight into the packed layout (data() + offset(i, k)) instead
  // of writing the matrix out and packing a copy of it: Winograd's transformed filters. Every element must
  // be written; the padding rows past M are zeroed here.
  PackedA(int64_t M, int64_t K, GemmKernel kernel = GemmKernel::automatic);
  ~PackedA();  // its storage goes back to the thread's spare, for the next PackedA
  PackedA(const PackedA&) = delete;
  PackedA& operator=(const PackedA&) = delete;
  int64_t rows() const { return M_; }
  int64_t depth() const { return K_; }
  GemmKernel kernel() const { return kernel_; }
  float* data() { return data_.get(); }
  // Where op(A)[i, k] lies from data(); rows i and i + j * MR lie j * MR * kc_of(k) apart (kc_of(k): the
  // length of k's reduction block).
  int64_t offset(int64_t i, int64_t k) const;
  int64_t kc_of(int64_t k) const;
  // The panels of reduction block [k0, k0 + kc_block) (k0 a multiple of kc_block), row panel ir / MR.
  const float* block(int64_t k0, int64_t ir) const;
  struct Free {  // std::free, for memory from std::aligned_alloc
    void operator()(float* p) const;
  };

 private:
  void allocate();  // data_ for padded_rows_ x K_, from the thread's spare when it is large enough
  int64_t M_, K_, padded_rows_;
  std::size_t bytes_ = 0;
  GemmKernel kernel_;
  std::unique_ptr<float, Free> data_;
};

// Writes reduction steps [k0, k0 + kc) and columns [j0, j0 + nc) of op(B) into panels of NR columns:
// panel p (columns j0 + p*NR ...) at panels + p*NR*kc holds kc groups of NR values, zeros past nc up to at
// least the next multiple of 16 (no micro-kernel reads further).
using PackB = std::function<void(float* panels, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int NR)>;

// A PackB for a row-major B (K,N) (or B^T with B (N,K), transpose_b) with leading dimension ldb.
void pack_b_panels(float* panels, const float* B, int64_t ldb, bool transpose_b, int64_t k0, int64_t kc,
                   int64_t j0, int64_t nc, int NR);

// C[M,N] (=|+=) op(A) * op(B), single-threaded, with op(B) packed by pack_b block by block (for a B that is
// built on the fly, like a convolution's column matrix); the same loops and summation order as sgemm.
void sgemm_pack_b(bool transpose_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  const PackB& pack_b, float* C, int64_t ldc, bool accumulate,
                  GemmKernel kernel = GemmKernel::automatic);

// C[M,N] (=|+=) op(A) * op(B), single-threaded, with op(A) prepacked and op(B) packed by pack_b. Sums each
// element's products in the same order as sgemm with the same kernel.
void sgemm_packed_a(const PackedA& a, int64_t N, const PackB& pack_b, float* C, int64_t ldc, bool accumulate);
// The same for rows [row0, row0 + rows) of op(A) only, into C's first `rows` rows; row0 must be a multiple
// of tile_rows(a.kernel()).
void sgemm_packed_a(const PackedA& a, int64_t row0, int64_t rows, int64_t N, const PackB& pack_b, float* C,
                    int64_t ldc, bool accumulate);
// op(B) (K,N) packed whole, every block where sgemm_packed_a packs it, for a B that several products share
// (the data gradient multiplies one image's output gradient by each channel slice of W^T). The storage is
// the caller's: packed_b_size() floats, 64-byte aligned; `kernel` must be the PackedA's.
int64_t packed_b_size(GemmKernel kernel, int64_t K, int64_t N);
void pack_b_whole(float* packed, GemmKernel kernel, int64_t K, int64_t N, const float* B, int64_t ldb,
                  bool transpose_b);
// sgemm_packed_a over rows [row0, row0 + rows) with op(B) from pack_b_whole: the same sums.
void sgemm_packed_a(const PackedA& a, int64_t row0, int64_t rows, int64_t N, const float* packed_b, float* C,
                    int64_t ldc, bool accumulate);
// The micro-kernel's rows (MR).
int tile_rows(GemmKernel kernel);

}  // namespace keynet::cpu::fast
