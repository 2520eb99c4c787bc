// Linear through cuBLAS. cuBLAS is column-major, and a row-major (rows x cols) matrix read
// column-major is its transpose (ld = cols). So each product is computed transposed:
//   out (N,O) = inp (N,I) W^T   as  out^T (O x N)  = T(W^T: I x O) * inp^T (I x N)
//   dinp (N,I) = dout (N,O) W   as  dinp^T (I x N) = W^T (I x O) * dout^T (O x N)
//   dW (O,I) += dout^T inp      as  dW^T (I x O)  += inp^T (I x N) * T(dout^T: O x N)
// The bias is broadcast into out first (beta = 1 then adds the product); the bias gradient is our
// deterministic column sum (cuBLAS has no reduction of its own; a GEMV with a ones vector would do
// the same sums).
#include "kernels/cuda/kernels.h"
#include "kernels/cudnn/cudnn.h"
#include "kernels/cudnn/common.h"

namespace keynet::cudnn {

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O) {
  const float one = 1.0f, zero = 0.0f;
  if (bias) cuda::linear_fill_bias(out, bias, N, O);
  const float* beta = bias ? &one : &zero;  // with a bias the product adds to it, so is never retried
  KEYNET_CUBLAS_RETRY(beta, cublasSgemm(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, &one, weight, I, inp, I,
                                        beta, out, O));
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int I, int O) {
  const float one = 1.0f, zero = 0.0f;
  if (dinp)
    KEYNET_CUBLAS_RETRY(&zero, cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, &one, weight, I, dout,
                                           O, &zero, dinp, I));
  // Adds into dweight: never retried after out of memory (a second run could add twice).
  KEYNET_CUBLAS_CHECK(
      cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_T, I, O, N, &one, inp, I, dout, O, &one, dweight, I));
  if (dbias) cuda::linear_bias_grad(dbias, dout, N, O);
}

}  // namespace keynet::cudnn
