// Max pooling through cuDNN (CUDNN_POOLING_MAX_DETERMINISTIC). cuDNN's padded max pooling ignores the
// padding (it never wins), as PyTorch and kernels/cpu/ref do; the GPU parity tests check that on
// padded windows, and ties (where cuDNN's choice of winner is not documented) are kept out of them.
// A NaN in a window propagates to its output (CUDNN_PROPAGATE_NAN), as in kernels/cpu/ref/max_pool2d.h.
#include "kernels/cudnn/cudnn.h"
#include "kernels/cudnn/common.h"

namespace keynet::cudnn {

namespace {

class PoolingDescriptor {
 public:
  explicit PoolingDescriptor(const ops::PoolDesc& d) {
    KEYNET_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&desc_));
    KEYNET_CUDNN_CHECK(cudnnSetPooling2dDescriptor(desc_, CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_PROPAGATE_NAN,
                                                   d.kernel, d.kernel, d.pad, d.pad, d.stride, d.stride));
  }
  ~PoolingDescriptor() { cudnnDestroyPoolingDescriptor(desc_); }
  PoolingDescriptor(const PoolingDescriptor&) = delete;
  PoolingDescriptor& operator=(const PoolingDescriptor&) = delete;
  cudnnPoolingDescriptor_t get() const { return desc_; }

 private:
  cudnnPoolingDescriptor_t desc_ = nullptr;
};

void check_output_size(const PoolingDescriptor& pool, const TensorDescriptor& x, const ops::PoolDesc& d) {
  int n = 0, c = 0, h = 0, w = 0;
  KEYNET_CUDNN_CHECK(cudnnGetPooling2dForwardOutputDim(pool.get(), x.get(), &n, &c, &h, &w));
  KEYNET_CHECK(h == d.P() && w == d.Q(), "cuDNN sizes max pool output ", h, "x", w, " where keynet expects ", d.P(),
               "x", d.Q(), " (kernel ", d.kernel, " stride ", d.stride, " pad ", d.pad, "); use impl=fast");
}

}  // namespace

void max_pool2d_forward(float* out, const float* inp, const ops::PoolDesc& d) {
  const PoolingDescriptor pool(d);
  const TensorDescriptor x(d.N, d.C, d.H, d.W), y(d.N, d.C, d.P(), d.Q());
  check_output_size(pool, x, d);
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnPoolingForward(cudnn_handle(), pool.get(), &one, x.get(), inp, &zero, y.get(), out));
}

void max_pool2d_backward(float* dinp, const float* dout, const float* inp, const float* out, const ops::PoolDesc& d) {
  const PoolingDescriptor pool(d);
  const TensorDescriptor x(d.N, d.C, d.H, d.W), y(d.N, d.C, d.P(), d.Q());
  check_output_size(pool, x, d);
  const float one = 1.0f, zero = 0.0f;
  KEYNET_CUDNN_RETRY(&zero, cudnnPoolingBackward(cudnn_handle(), pool.get(), &one, y.get(), out, y.get(), dout,
                                                 x.get(), inp, &zero, x.get(), dinp));
}

}  // namespace keynet::cudnn
