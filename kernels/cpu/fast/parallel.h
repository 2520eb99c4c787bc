// Shared plumbing of the fast CPU kernels: row-major Eigen views, deterministic work splitting, and
// per-thread scratch buffers. Internal to kernels/cpu/fast.
#pragma once
// GCC 12 reports false (maybe-)uninitialized warnings inside Eigen's AVX-512 GEMM kernels and
// transposes (its own intrinsics headers initialise a register with itself).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/ops.h"

namespace keynet::cpu::fast {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// A row-major matrix view with an explicit row stride (lets a thread address a block of columns).
using MatrixView = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMatrixView = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

inline MatrixView matrix(float* data, int64_t rows, int64_t cols, int64_t row_stride) {
  return MatrixView(data, rows, cols, Eigen::OuterStride<>(row_stride));
}
inline ConstMatrixView matrix(const float* data, int64_t rows, int64_t cols, int64_t row_stride) {
  return ConstMatrixView(data, rows, cols, Eigen::OuterStride<>(row_stride));
}

// The kernels split work over cpu_threads() themselves, with static schedules, so that results repeat
// bit for bit for a given thread count. Eigen must not start threads of its own inside them.
inline int kernel_threads() {
  static const bool eigen_single_threaded = [] {
    Eigen::setNbThreads(1);
    return true;
  }();
  (void)eigen_single_threaded;
  return cpu_threads();
}

// [begin, end) of part `index` of `parts` near-equal parts of [0, total); part boundaries are rounded to
// multiples of `align` (the last part takes the remainder).
struct Range {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};
inline Range split(int64_t total, int parts, int index, int64_t align = 1) {
  const int64_t units = (total + align - 1) / align;
  const int64_t begin = std::min(total, units * index / parts * align);
  const int64_t end = index + 1 == parts ? total : std::min(total, units * (index + 1) / parts * align);
  return {begin, end};
}

// Elementwise loops below this size run on one thread: starting a team costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;
inline int threads_for(int64_t work) { return work < kParallelGrain ? 1 : kernel_threads(); }

// Per-thread scratch memory that lives as long as the thread (OpenMP keeps its pool), so that steady
// state training does not allocate. `slot` separates the buffers one kernel needs at the same time.
float* scratch(int slot, int64_t count);

}  // namespace keynet::cpu::fast
