// The descriptors of the kernel API (kernels/ops.h): the shapes and hyperparameters an op takes besides
// its tensors. They live apart from ops.h so that the backends (kernels/cpu, kernels/cuda,
// kernels/cudnn) can take them without including the dispatch they sit under.
#pragma once
#include <cstdint>

namespace keynet::ops {

// inp (N,C,H,W), weight (K,C,R,S), bias (K), out (N,K,P,Q)
struct ConvDesc {
  int N = 0, C = 0, H = 0, W = 0;  // input
  int K = 0, R = 0, S = 0;         // output channels, kernel height, kernel width
  int stride = 1, pad = 0;
  // 0 when the kernel does not fit (C++ division truncates toward zero, so test before dividing)
  int P() const { return H + 2 * pad < R ? 0 : (H + 2 * pad - R) / stride + 1; }
  int Q() const { return W + 2 * pad < S ? 0 : (W + 2 * pad - S) / stride + 1; }
  double flops_forward() const { return 2.0 * N * K * P() * Q() * C * R * S; }
};

// inp (N,C,H,W), out (N,C,P,Q); padding counts as -infinity, as in PyTorch
struct PoolDesc {
  int N = 0, C = 0, H = 0, W = 0;
  int kernel = 2, stride = 2, pad = 0;
  int P() const { return H + 2 * pad < kernel ? 0 : (H + 2 * pad - kernel) / stride + 1; }
  int Q() const { return W + 2 * pad < kernel ? 0 : (W + 2 * pad - kernel) / stride + 1; }
};

// inp (N,C,H,W) viewed as (N, C, HW); per-channel statistics over N*HW values
struct BatchNormDesc {
  int N = 0, C = 0, HW = 0;
  double eps = 1e-5;
  double momentum = 0.1;  // running = (1 - momentum) * running + momentum * batch (PyTorch)
};

// Wing loss (Feng et al., "Wing Loss for Robust Facial Landmark Localisation with CNNs", CVPR 2018), per
// element of x = pred - target, in the targets' units:
//   w ln(1 + |x| / epsilon)   for |x| < w: log-shaped, so small and medium errors keep a large gradient
//   |x| - c                   otherwise, c = w - w ln(1 + w / epsilon) joining the two pieces
// Both must be positive and finite (ops::wing_loss_* check); they have no defaults, as they depend on the
// targets' units (the paper's w = 10, epsilon = 2 are pixels of a 256x256 input).
struct WingDesc {
  double w = 0.0, epsilon = 0.0;
  double c() const;  // kernels/ops.cpp
};

// inp (N,C,H,W) -> out (N,C,H*scale,W*scale): nearest-neighbour upsampling by an integer factor,
// out[n,c,y,x] = inp[n,c,y/scale,x/scale] (PyTorch's nn.Upsample(scale_factor=scale, mode='nearest'))
struct UpsampleDesc {
  int N = 0, C = 0, H = 0, W = 0;
  int scale = 2;
  int OH() const { return H * scale; }
  int OW() const { return W * scale; }
};

// Soft-argmax (integral regression, Sun et al., "Integral Human Pose Regression", ECCV 2018): inp (N,K,H,W)
// scores -> probs (N,K,H,W), the softmax of beta * inp over each map's H*W cells, and out (N,2K), each
// map's expected cell centre (x, y) interleaved, in keynet's normalised point coordinates: column j's
// centre is (2j+1)/W - 1, row i's (2i+1)/H - 1 (data/dataset.cpp's normalize_points). beta > 0 sharpens
// (large) or flattens (small) the distribution.
struct SoftArgmaxDesc {
  int N = 0, K = 0, H = 0, W = 0;
  double beta = 1.0;
};

// PyTorch semantics (torch.optim.Adam / AdamW); step counts from 1.
struct AdamDesc {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true: AdamW
  int64_t step = 1;
};

// PyTorch semantics (torch.optim.SGD); on the first step the momentum buffer is set to the gradient.
struct SgdDesc {
  double lr = 1e-2, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = true;
};

}  // namespace keynet::ops
