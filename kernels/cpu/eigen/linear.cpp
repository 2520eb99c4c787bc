// Fully connected layer on Eigen's GEMM (the CPU vendor path): one product per direction on the calling
// thread (the layers it serves are small next to the convolutions).
#include "kernels/cpu/eigen/common.h"
#include "kernels/cpu/eigen/eigen.h"

namespace keynet::cpu::eigen {

// out (N,O) = inp (N,I) * weight^T + bias
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O) {
  eigen_threads();
  auto y = matrix(out, N, O, O);
  if (bias)
    y = Eigen::Map<const Eigen::RowVectorXf>(bias, O).replicate(N, 1);
  else
    y.setZero();
  y.noalias() += matrix(inp, N, I, I) * matrix(weight, O, I, I).transpose();
}

// dinp (N,I) overwritten (may be null) = dout * weight; dweight (O,I) += dout^T * inp; dbias (O) += column
// sums of dout.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int I, int O) {
  eigen_threads();
  const auto dy = matrix(dout, N, O, O);
  if (dinp) matrix(dinp, N, I, I).noalias() = dy * matrix(weight, O, I, I);
  matrix(dweight, O, I, I).noalias() += dy.transpose() * matrix(inp, N, I, I);
  if (dbias)
    for (int o = 0; o < O; ++o) dbias[o] += dy.col(o).sum();
}

}  // namespace keynet::cpu::eigen
