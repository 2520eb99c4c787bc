// The CPU's vendor path (Impl::Vendor): convolution and linear layers on Eigen's GEMM, a kept library,
// as cuDNN and cuBLAS are on CUDA. It is the yardstick our fast kernels (kernels/cpu/fast, on our own
// GEMM) are measured and checked against; Eigen has no pooling, normalisation or elementwise ops, so
// those run the fast kernels under Impl::Vendor (ops.cpp says so once per op). Same semantics as
// kernels/cpu/ref. Threads (cpu_threads()) split the batch; Eigen itself runs single-threaded inside.
#pragma once
#include "kernels/descriptors.h"

namespace keynet::cpu::eigen {

// inp (N,C,H,W), weight (K,C,R,S), bias (K) or null, out (N,K,P,Q)
void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ops::ConvDesc& d);
void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::ConvDesc& d);

// inp (N,I), weight (O,I), bias (O) or null, out (N,O)
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int I, int O);
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int I, int O);

}  // namespace keynet::cpu::eigen
