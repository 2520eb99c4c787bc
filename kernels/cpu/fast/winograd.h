// Winograd convolution F(4x4, 3x3) and F(2x2, 3x3) for the fast CPU path (kernels/cpu/fast/winograd.cpp),
// and the rule that chooses it over the GEMM convolution (conv2d.cpp) per shape and direction. KEYNET_CONV_ALGO=
// auto|gemm|winograd|direct (read once) or set_conv_algo() forces one for comparisons and tests (direct:
// direct_conv.h); the Ref and Vendor paths are not affected.
#pragma once
#include "kernels/descriptors.h"

namespace keynet::cpu::fast {

enum class ConvAlgo { automatic, gemm, winograd, direct };
ConvAlgo conv_algo();
void set_conv_algo(ConvAlgo algo);

enum class ConvDirection { forward, data_gradient, weight_gradient };
// The data gradient as a convolution: dout (N, K, P, Q) convolved with the flipped filters (C outputs from K
// inputs, padding R - 1 - pad) gives dinp (N, C, H, W).
ops::ConvDesc data_gradient_desc(const ops::ConvDesc& d);

// 3x3, stride 1, padding at most 2: the shapes Winograd computes.
bool winograd_applies(const ops::ConvDesc& d);
// The output tile (4 or 2) a computed shape d (data_gradient_desc for the data gradient) takes: 4x4 where at
// least half of its tiles' points lie inside the output, 2x2 on smaller maps (a 5x5 map: 0.39 against 0.69).
int winograd_tile(const ops::ConvDesc& d);
// Where it is faster than the GEMM convolution here for `direction` of a convolution whose computed shape
// (data_gradient_desc for the data gradient) is d (BENCHMARKS.md measures the rule).
bool winograd_pays(const ops::ConvDesc& d, ConvDirection direction);
// Whether conv2d_forward / conv2d_backward run `direction` of d by Winograd, under conv_algo().
bool uses_winograd(const ops::ConvDesc& d, ConvDirection direction);

// The same contracts as conv2d_forward and conv2d_backward's parts (fast.h): out and dinp overwritten,
// dweight and dbias (may be null) accumulated. Only for shapes where winograd_applies().
void winograd_conv2d_forward(float* out, const float* inp, const float* weight, const float* bias,
                             const ops::ConvDesc& d);
void winograd_conv2d_backward_data(float* dinp, const float* dout, const float* weight, const ops::ConvDesc& d);
void winograd_conv2d_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp,
                                     const ops::ConvDesc& d);

}  // namespace keynet::cpu::fast
