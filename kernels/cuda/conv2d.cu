// Convolution on the GPU. inp (N,C,H,W), weight (K,C,R,S), bias (K), out (N,K,P,Q),
// P = (H + 2*pad - R) / stride + 1, Q likewise.
//   ref: one thread per output element of each direction (out, dinp, dweight, dbias).
//   fast: implicit GEMM on our tiled SGEMM (gemm.cuh), nothing materialised:
//     forward      out(k, n·pq)    = sum over c·r·s  W(k, crs)        * im2col(crs, n·pq)   + bias(k)
//     data grad    dinp(c, n·hw)   = sum over k·r·s  W(k, c, rs)      * dout gathered at (h+pad-r)/stride
//     weight grad  dweight(k, crs) += sum over n·pq  dout(k, n·pq)    * im2col(crs, n·pq)
//   Any of the three is split along its sum (split-K) where gemm_plan finds too few output tiles.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fast_divisor.h"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/kernels.h"

namespace keynet::cuda {

namespace {
// ConvDesc with P and Q worked out on the host, for device code.
struct ConvShape {
  int N, C, H, W, K, R, S, stride, pad, P, Q;
};
// Also refuses shapes past int indexing: the element counts bound every GEMM dimension (N*P*Q, N*H*W,
// C*R*S, K*R*S), so checking the three tensors covers them all.
ConvShape shape_of(const ConvDesc& d, const char* op) {
  check_int_indexable(op, "input", static_cast<int64_t>(d.N) * d.C * d.H * d.W);
  check_int_indexable(op, "output", static_cast<int64_t>(d.N) * d.K * d.P() * d.Q());
  check_int_indexable(op, "weight", static_cast<int64_t>(d.K) * d.C * d.R * d.S);
  return {d.N, d.C, d.H, d.W, d.K, d.R, d.S, d.stride, d.pad, d.P(), d.Q()};
}

// ------------------------------------------------------------------------------------------ ref

__global__ void conv2d_forward_ref_kernel(float* out, const float* inp, const float* weight, const float* bias,
                                            ConvShape d) {
  const int P = d.P, Q = d.Q;
  const long total = static_cast<long>(d.N) * d.K * P * Q;
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int q = idx % Q, p = (idx / Q) % P, k = (idx / (static_cast<long>(P) * Q)) % d.K;
  const int n = idx / (static_cast<long>(d.K) * P * Q);
  float sum = bias ? bias[k] : 0.0f;
  for (int c = 0; c < d.C; ++c)
    for (int r = 0; r < d.R; ++r)
      for (int s = 0; s < d.S; ++s) {
        const int h = p * d.stride - d.pad + r, w = q * d.stride - d.pad + s;
        if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
        sum += inp[((static_cast<long>(n) * d.C + c) * d.H + h) * d.W + w] * weight[((k * d.C + c) * d.R + r) * d.S + s];
      }
  out[idx] = sum;
}

// one thread per input element: every output position whose window covers it
__global__ void conv2d_backward_data_ref_kernel(float* dinp, const float* dout, const float* weight, ConvShape d) {
  const int P = d.P, Q = d.Q;
  const long total = static_cast<long>(d.N) * d.C * d.H * d.W;
  const long idx = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x;
  if (idx >= total) return;
  const int w = idx % d.W, h = (idx / d.W) % d.H, c = (idx / (static_cast<long>(d.H) * d.W)) % d.C;
  const int n = idx / (static_cast<long>(d.C) * d.H * d.W);
  float sum = 0.0f;
  for (int k = 0; k < d.K; ++k)
    for (int r = 0; r < d.R; ++r)
      for (int s = 0; s < d.S; ++s) {
        const int y = h + d.pad - r, x = w + d.pad - s;
        if (y < 0 || x < 0 || y % d.stride != 0 || x % d.stride != 0) continue;
        const int p = y / d.stride, q = x / d.stride;
        if (p >= P || q >= Q) continue;
        sum += dout[((static_cast<long>(n) * d.K + k) * P + p) * Q + q] * weight[((k * d.C + c) * d.R + r) * d.S + s];
      }
  dinp[idx] = sum;
}

// one thread per weight element: a sum over the whole batch and every output position
__global__ void conv2d_backward_weight_ref_kernel(float* dweight, const float* dout, const float* inp, ConvShape d) {
  const int P = d.P, Q = d.Q;
  const int total = d.K * d.C * d.R * d.S;
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= total) return;
  const int s = idx % d.S, r = (idx / d.S) % d.R, c = (idx / (d.S * d.R)) % d.C, k = idx / (d.S * d.R * d.C);
  float sum = 0.0f;
  for (int n = 0; n < d.N; ++n)
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < Q; ++q) {
        const int h = p * d.stride - d.pad + r, w = q * d.stride - d.pad + s;
        if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
        sum += dout[((static_cast<long>(n) * d.K + k) * P + p) * Q + q] *
               inp[((static_cast<long>(n) * d.C + c) * d.H + h) * d.W + w];
      }
  dweight[idx] += sum;
}

__global__ void conv2d_bias_grad_ref_kernel(float* dbias, const float* dout, int N, int K, int PQ) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= K) return;
  float sum = 0.0f;
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < PQ; ++i) sum += dout[(static_cast<long>(n) * K + k) * PQ + i];
  dbias[k] += sum;
}

// one block per channel; a fixed-order block reduction
__global__ void conv2d_bias_grad_kernel(float* dbias, const float* dout, int N, int K, int PQ) {
  const int k = blockIdx.x;
  float sum = 0.0f;
  for (long i = threadIdx.x; i < static_cast<long>(N) * PQ; i += blockDim.x) {
    const long n = i / PQ;
    sum += dout[(n * K + k) * PQ + (i - n * PQ)];
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) dbias[k] += sum;
}

}  // namespace

void ref::conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ConvDesc& desc) {
  const ConvShape d = shape_of(desc, "conv2d_forward");
  const long total = static_cast<long>(d.N) * d.K * d.P * d.Q;
  conv2d_forward_ref_kernel<<<blocks_for(total), kThreads>>>(out, inp, weight, bias, d);
  KEYNET_CUDA_LAUNCHED("conv2d_forward_ref");
}

void ref::conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, const ConvDesc& desc) {
  const ConvShape d = shape_of(desc, "conv2d_backward");
  if (dinp) {
    const long total = static_cast<long>(d.N) * d.C * d.H * d.W;
    conv2d_backward_data_ref_kernel<<<blocks_for(total), kThreads>>>(dinp, dout, weight, d);
    KEYNET_CUDA_LAUNCHED("conv2d_backward_data_ref");
  }
  conv2d_backward_weight_ref_kernel<<<blocks_for(d.K * d.C * d.R * d.S), kThreads>>>(dweight, dout, inp, d);
  KEYNET_CUDA_LAUNCHED("conv2d_backward_weight_ref");
  if (dbias) {
    conv2d_bias_grad_ref_kernel<<<blocks_for(d.K), kThreads>>>(dbias, dout, d.N, d.K, d.P * d.Q);
    KEYNET_CUDA_LAUNCHED("conv2d_bias_grad_ref");
  }
}

void conv2d_bias_grad(float* dbias, const float* dout, int N, int K, int PQ) {
  conv2d_bias_grad_kernel<<<K, kThreads>>>(dbias, dout, N, K, PQ);
  KEYNET_CUDA_LAUNCHED("conv2d_bias_grad");
}

// ------------------------------------------------------------------------------------------ fast
namespace {

// B(crs, n·pq) of the forward GEMM: the input pixel under weight tap (c, r, s) for output (n, p, q).
struct Im2colLoad {
  static constexpr bool kContiguous = false;
  const float* inp;
  ConvShape d;
  FastDivisor by_RS, by_S;
  struct Line {
    const float* image;  // null past the last output position
    int h0, w0, H, W;
    FastDivisor by_RS, by_S;
    __device__ float operator()(int crs) const {
      if (!image) return 0.0f;
      int c, rs, r, s;
      by_RS.divmod(crs, c, rs);
      by_S.divmod(rs, r, s);
      const int h = h0 + r, w = w0 + s;
      if (static_cast<unsigned>(h) >= static_cast<unsigned>(H) || static_cast<unsigned>(w) >= static_cast<unsigned>(W))
        return 0.0f;
      return __ldg(image + (static_cast<long>(c) * H + h) * W + w);
    }
  };
  __device__ Line line(int npq) const {
    const int PQ = d.P * d.Q;
    if (npq >= d.N * PQ) return {nullptr, 0, 0, 0, 0, by_RS, by_S};
    const int n = npq / PQ, pq = npq - n * PQ, p = pq / d.Q, q = pq - p * d.Q;
    return {inp + static_cast<long>(n) * d.C * d.H * d.W, p * d.stride - d.pad, q * d.stride - d.pad, d.H, d.W,
            by_RS, by_S};
  }
};

// GEMM C(m, n·pq) -> tensor (N, M, PQ), plus bias(m): the forward output and the data gradient.
struct ConvOutStore {
  float* out;
  const float* bias;
  int M, PQ;
  FastDivisor by_PQ;
  __device__ void operator()(int m, int npq, int, float value) const {
    int n, pq;
    by_PQ.divmod(npq, n, pq);
    out[(static_cast<long>(n) * M + m) * PQ + pq] = bias ? value + bias[m] : value;
  }
};

// A(c, k·rs) of the data-gradient GEMM: weight (K,C,R,S) read as (C, K·R·S).
struct WeightByInputLoad {
  static constexpr bool kContiguous = true;
  const float* weight;
  int C, RS;
  FastDivisor by_RS;
  struct Step {
    int offset;  // k*C*R*S + rs
  };
  struct Line {
    int channel;  // c*R*S, -1 past the last channel
  };
  __device__ Line line(int c) const { return {c < C ? c * RS : -1}; }
  __device__ Step at(int krs) const {
    int k, rs;
    by_RS.divmod(krs, k, rs);
    return {k * C * RS + rs};
  }
  __device__ float operator()(const Line& line, const Step& step) const {
    return line.channel >= 0 ? __ldg(weight + line.channel + step.offset) : 0.0f;
  }
};

// B(k·rs, n·hw) of the data-gradient GEMM: dout at the output position whose tap (r, s) lands on
// (h, w), or 0 where no output position does (stride does not divide, or outside the output).
struct OutputGradGatherLoad {
  static constexpr bool kContiguous = false;
  const float* dout;
  ConvShape d;
  FastDivisor by_RS, by_S, by_stride;
  struct Line {
    const float* image;
    int hp, wp, P, Q;
    FastDivisor by_RS, by_S, by_stride;
    __device__ float operator()(int krs) const {
      if (!image) return 0.0f;
      int k, rs, r, s;
      by_RS.divmod(krs, k, rs);
      by_S.divmod(rs, r, s);
      const int y = hp - r, x = wp - s;
      if (y < 0 || x < 0) return 0.0f;
      int p, q, y_rest, x_rest;
      by_stride.divmod(y, p, y_rest);
      by_stride.divmod(x, q, x_rest);
      if (y_rest != 0 || x_rest != 0 || p >= P || q >= Q) return 0.0f;
      return __ldg(image + (static_cast<long>(k) * P + p) * Q + q);
    }
  };
  __device__ Line line(int nhw) const {
    const int HW = d.H * d.W;
    if (nhw >= d.N * HW) return {nullptr, 0, 0, 1, 1, by_RS, by_S, by_stride};
    const int n = nhw / HW, hw = nhw - n * HW, h = hw / d.W, w = hw - h * d.W;
    return {dout + static_cast<long>(n) * d.K * d.P * d.Q, h + d.pad, w + d.pad, d.P, d.Q, by_RS, by_S, by_stride};
  }
};

// A(k, n·pq) of the weight-gradient GEMM: dout (N,K,PQ) read as (K, N·PQ).
struct OutputGradRowsLoad {
  static constexpr bool kContiguous = true;
  const float* dout;
  int K, PQ;
  FastDivisor by_PQ;
  struct Step {
    const float* at_pq;  // dout + n*K*PQ + pq
  };
  struct Line {
    int channel;  // k*PQ, -1 past the last channel
  };
  __device__ Line line(int k) const { return {k < K ? k * PQ : -1}; }
  __device__ Step at(int npq) const {
    int n, pq;
    by_PQ.divmod(npq, n, pq);
    return {dout + static_cast<long>(n) * K * PQ + pq};
  }
  __device__ float operator()(const Line& line, const Step& step) const {
    return line.channel >= 0 ? __ldg(step.at_pq + line.channel) : 0.0f;
  }
};

// B(n·pq, crs) of the weight-gradient GEMM: the im2col matrix read transposed. The output position
// (Step) is shared by all taps a thread loads; a tap (Line) adds its channel and its (r, s) offset.
struct Im2colTransposedLoad {
  static constexpr bool kContiguous = true;
  const float* inp;
  ConvShape d;
  FastDivisor by_PQ, by_Q;
  struct Step {
    const float* image;  // inp + n*C*H*W
    int h0, w0;          // p*stride, q*stride: where the window starts, before padding
  };
  struct Line {
    int channel;       // c*H*W, -1 past the last tap
    int r_off, s_off;  // r - pad, s - pad
  };
  __device__ Line line(int crs) const {
    const int RS = d.R * d.S;
    if (crs >= d.C * RS) return {-1, 0, 0};
    const int c = crs / RS, rs = crs - c * RS, r = rs / d.S, s = rs - r * d.S;
    return {c * d.H * d.W, r - d.pad, s - d.pad};
  }
  __device__ Step at(int npq) const {
    int n, pq, p, q;
    by_PQ.divmod(npq, n, pq);
    by_Q.divmod(pq, p, q);
    return {inp + static_cast<long>(n) * d.C * d.H * d.W, p * d.stride, q * d.stride};
  }
  __device__ float operator()(const Line& line, const Step& step) const {
    const int h = step.h0 + line.r_off, w = step.w0 + line.s_off;
    if (line.channel < 0 || static_cast<unsigned>(h) >= static_cast<unsigned>(d.H) ||
        static_cast<unsigned>(w) >= static_cast<unsigned>(d.W))
      return 0.0f;
    return __ldg(step.image + line.channel + h * d.W + w);
  }
};

}  // namespace

void fast::conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ConvDesc& desc) {
  const ConvShape d = shape_of(desc, "conv2d_forward");
  const int CRS = d.C * d.R * d.S, PQ = d.P * d.Q;
  gemm(StridedLoad<true>{weight, d.K, CRS, 1}, Im2colLoad{inp, d, FastDivisor(d.R * d.S), FastDivisor(d.S)},
       ConvOutStore{out, bias, d.K, PQ, FastDivisor(PQ)}, d.K, d.N * PQ, CRS, "conv2d_forward_fast");
}

void fast::conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                           const float* weight, const ConvDesc& desc) {
  const ConvShape d = shape_of(desc, "conv2d_backward");
  const int RS = d.R * d.S, PQ = d.P * d.Q;
  if (dinp)
    gemm(WeightByInputLoad{weight, d.C, RS, FastDivisor(RS)},
         OutputGradGatherLoad{dout, d, FastDivisor(RS), FastDivisor(d.S), FastDivisor(d.stride)},
         ConvOutStore{dinp, nullptr, d.C, d.H * d.W, FastDivisor(d.H * d.W)}, d.C, d.N * d.H * d.W, d.K * RS,
         "conv2d_backward_data_fast");
  gemm(OutputGradRowsLoad{dout, d.K, PQ, FastDivisor(PQ)}, Im2colTransposedLoad{inp, d, FastDivisor(PQ), FastDivisor(d.Q)},
       AccumulateStore{dweight, d.C * RS}, d.K, d.C * RS, d.N * PQ, "conv2d_backward_weight_fast");
  if (dbias) conv2d_bias_grad(dbias, dout, d.N, d.K, PQ);
}

}  // namespace keynet::cuda
