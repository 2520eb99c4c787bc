// Plumbing of the Eigen vendor path: row-major Eigen views of raw buffers, per-thread scratch, and the
// thread count with Eigen's own threading switched off (our loops split the work). Internal to
// kernels/cpu/eigen.
#pragma once
// GCC 12 reports false (maybe-)uninitialized warnings inside Eigen's AVX-512 GEMM kernels and
// transposes (its own intrinsics headers initialise a register with itself).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <Eigen/Core>

#include <cstdint>
#include <vector>

#include "kernels/cpu/threads.h"

namespace keynet::cpu::eigen {

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

// cpu_threads(), after telling Eigen not to start threads of its own inside ours.
inline int eigen_threads() {
  static const bool single_threaded = [] {
    Eigen::setNbThreads(1);
    return true;
  }();
  (void)single_threaded;
  return cpu_threads();
}

// A buffer of at least `count` floats that lives as long as the calling thread; `slot` separates the
// buffers one kernel needs at the same time.
inline float* scratch(int slot, int64_t count) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

}  // namespace keynet::cpu::eigen
