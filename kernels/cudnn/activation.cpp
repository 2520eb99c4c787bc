// ReLU through cuDNN. The tensor is described as (1, 1, 1, n): ReLU does not care about the shape.
// The backward pass gets only the output; for ReLU it serves as the input too (out > 0 exactly where
// inp > 0), which is what kernels/ops.h's relu_backward(dinp, dout, out) promises. NaN propagates, as in
// kernels/cpu/ref/relu.h.
#include <limits>

#include "kernels/cudnn/cudnn.h"
#include "kernels/cudnn/common.h"

namespace keynet::cudnn {

namespace {

int checked_count(int64_t n) {
  KEYNET_CHECK(n > 0 && n <= std::numeric_limits<int>::max(), "cuDNN ReLU: ", n,
               " elements do not fit one cuDNN tensor; use impl=fast");
  return static_cast<int>(n);
}

}  // namespace

// out may be inp: cudnnActivationForward allows x == y
void relu_forward(float* out, const float* inp, int64_t n) {
  const ReluDescriptor relu;
  const TensorDescriptor t(1, 1, 1, checked_count(n));
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnActivationForward(cudnn_handle(), relu.get(), &one, t.get(), inp, &zero, t.get(), out));
}

void relu_backward(float* dinp, const float* dout, const float* out, int64_t n) {
  const ReluDescriptor relu;
  const TensorDescriptor t(1, 1, 1, checked_count(n));
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnActivationBackward(cudnn_handle(), relu.get(), &one, t.get(), out, t.get(), dout,
                                                    t.get(), out, &zero, t.get(), dinp));
}

}  // namespace keynet::cudnn
