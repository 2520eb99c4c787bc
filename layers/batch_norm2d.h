// BatchNorm2d over (N,H,W) per channel, PyTorch semantics: eps 1e-5, momentum 0.1, running variance
// from the unbiased estimate. Parameters weight (gamma) and bias (beta); buffers running_mean,
// running_var and the counter num_batches_tracked (names as in torch.nn.BatchNorm2d).
// BatchNormReLU is BatchNorm2d followed by ReLU, one fused op per direction (ops::batch_norm2d_relu_*),
// with BatchNorm2d's state under BatchNorm2d's names: a stateless ReLU adds nothing to a state dict, so a
// checkpoint of conv -> bn -> relu loads into conv -> bn+relu and back, and into PyTorch.
// Synchronised over the ranks of a data-parallel job (synchronise_batch_norms), a BatchNorm2d normalises
// with the statistics of the global batch instead of its rank's (PyTorch's SyncBatchNorm): the ranks sum
// their per-channel sums twice in the forward (sums, then squares about the global mean) and once in the
// backward, through the split ops of kernels/ops.h.
#pragma once
#include "layers/module.h"
#include "layers/param_visitor.h"

namespace keynet {

// Sums over the ranks of a data-parallel job, in place (train::DataParallel provides it).
class RankSum {
 public:
  virtual ~RankSum() = default;
  virtual void sum(Tensor& values) = 0;  // every element, on the tensor's device
  // The global batch of this step, given this rank's: the same for every layer of a step, so summed once.
  virtual int64_t global_batch(int64_t local_batch) = 0;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x, Mode mode) override;
  // Backward of a Train-mode forward (batch statistics); after an Eval forward it refuses.
  Tensor backward(const Tensor& dy) override;
  void visit(ParamVisitor& visitor, const std::string& prefix) override;
  std::string describe() const override;

  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  int channels() const { return channels_; }
  double eps() const { return eps_; }
  // Folded into the convolution before it (Conv2d::fold_batch_norm): Mode::Eval passes the input through
  // (or its ReLU); Mode::Train is refused.
  void mark_folded() { folded_ = true; }
  bool folded() const { return folded_; }
  // Train-mode statistics over the ranks `ranks` sums across (null: this process's batch alone).
  void synchronise(RankSum* ranks) { ranks_ = ranks; }

 protected:
  BatchNorm2d(int channels, double eps, double momentum, bool relu);

 private:
  ops::BatchNormDesc descriptor(const Tensor& x) const;
  void forward_synchronised(Tensor& y, const Tensor& x, const ops::BatchNormDesc& d);
  Tensor backward_synchronised(const Tensor& dy, const ops::BatchNormDesc& d);
  int channels_;
  double eps_, momentum_;
  bool relu_ = false;  // ReLU fused after the normalisation (BatchNormReLU)
  Parameter weight_, bias_;
  Tensor running_mean_, running_var_;
  int64_t num_batches_tracked_ = 0;
  Tensor input_, output_, save_mean_, save_invstd_;  // output_: kept for the fused ReLU's mask only
  bool last_forward_trained_ = false;
  bool folded_ = false;
  RankSum* ranks_ = nullptr;
  double synchronised_count_ = 0;  // values per channel over the ranks in the last synchronised forward
};

// y = relu(BatchNorm2d(x)); the backward needs a Train-mode forward, as BatchNorm2d's.
class BatchNormReLU : public BatchNorm2d {
 public:
  explicit BatchNormReLU(int channels, double eps = 1e-5, double momentum = 0.1)
      : BatchNorm2d(channels, eps, momentum, true) {}
};

// Every BatchNorm2d in `model` (BatchNormReLU included) synchronised over `ranks` (null: none is).
void synchronise_batch_norms(Module& model, RankSum* ranks);

}  // namespace keynet
