// Direct convolution for the fast CPU path (kernels/cpu/fast/direct_conv.cpp): stride-1 convolutions
// with few channels (the IMM nets' 5x5 and 7x7 layers), where the GEMM convolution spends more time
// gathering column matrices than multiplying them. No column matrix at all: the kernels read the
// zero-padded image in place. The rule that chooses it per shape and direction is here; KEYNET_CONV_ALGO=
// direct forces it wherever it applies (winograd.h).
#pragma once
#include "kernels/cpu/fast/winograd.h"
#include "kernels/descriptors.h"

namespace keynet::cpu::fast {

// Stride 1, a square 3x3, 5x5 or 7x7 filter, padding below the filter's size (so that the data gradient is
// a convolution of the same kind, with one padding), and a micro-kernel with vector registers (AVX-512 or
// AVX2).
bool direct_applies(const ops::ConvDesc& d);
// Where it is faster than the GEMM convolution here (BENCHMARKS.md measures the rule).
bool direct_pays(const ops::ConvDesc& d, ConvDirection direction);
// Whether conv2d_forward / conv2d_backward run `direction` of d directly, under conv_algo(); never where
// uses_winograd() holds.
bool uses_direct(const ops::ConvDesc& d, ConvDirection direction);

// The same contracts as conv2d_forward and conv2d_backward's parts (fast.h): out and dinp overwritten,
// dweight and dbias (may be null) accumulated. Only for shapes where direct_applies().
void direct_conv2d_forward(float* out, const float* inp, const float* weight, const float* bias,
                           const ops::ConvDesc& d);
void direct_conv2d_backward_data(float* dinp, const float* dout, const float* weight, const ops::ConvDesc& d);
void direct_conv2d_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp,
                                   const ops::ConvDesc& d);

}  // namespace keynet::cpu::fast
