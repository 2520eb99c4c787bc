// Data-parallel training across processes: every rank holds the whole model, trains on its own shard of
// each global batch, and the ranks' gradients are summed after backward (each rank's loss gradient is
// scaled by 1/ranks first, so the sum is the mean over the global batch, as PyTorch's
// DistributedDataParallel computes it). The engines are the field's: MPI for processes and machines
// (host buffers; train/distributed_mpi.cpp, built with KEYNET_MPI) and NCCL for CUDA ranks (device
// buffers; train/distributed_nccl.cpp, built in CUDA builds that find NCCL; its communicator is set up
// through MPI, or alone for one rank). docs/DISTRIBUTED.md says what is synchronised when.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/batch_norm2d.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace keynet::train {

// A group of ranks that sum buffers: the one interface the training step sees.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "mpi", "nccl"
  // Sums `count` floats over the ranks, in place; `data` lives on `device`.
  virtual void all_reduce_sum(float* data, int64_t count, Device device) = 0;
  // Rank `root`'s `count` floats to every rank.
  virtual void broadcast(float* data, int64_t count, Device device, int root) = 0;
};

// The process's place among the ranks, found once: when the process was started by mpirun (OpenMPI's,
// MPICH's or a PMI launcher's environment) and keynet was built with MPI, MPI is initialised (and
// finalised at exit) and rank/size/local_size come from it; otherwise this is the only rank.
struct World {
  int rank = 0, size = 1;
  int local_size = 1;        // ranks on this machine
  bool mpi = false;          // MPI is initialised
};
const World& world();
// True when keynet was built with NCCL (CUDA builds that find it).
bool built_with_nccl();

// Every rank's communicator for `device`: NCCL for CUDA when built with it, else MPI (a CUDA rank's
// buffers then travel through the host). Null for a single process.
std::unique_ptr<Communicator> make_communicator(Device device);
// A one-rank NCCL communicator without MPI (the GPU check's step test); an error without NCCL.
std::unique_ptr<Communicator> make_single_rank_nccl();

// Stops every rank at once after an error on one of them (MPI_Abort), so that none waits forever for
// the failed one; returns normally when there is only one rank.
void abort_all_ranks(int code);
// Waits for every rank (MPI_Barrier); nothing for a single process.
void barrier();

// What train::step and the Trainer need to train one model on several ranks; also the sums over ranks
// that synchronised BatchNorm layers take (synchronise_batch_norms(model, &parallel)).
class DataParallel : public RankSum {
 public:
  // `bucket_bytes`: gradients are copied into flat buckets of about this size (each parameter whole)
  // and summed one bucket per message: a few large messages instead of one per parameter.
  DataParallel(Communicator& communicator, Module& model, int64_t bucket_bytes = 25 << 20);
  int rank() const { return communicator_.rank(); }
  int size() const { return communicator_.size(); }
  Communicator& communicator() { return communicator_; }

  // Rank 0's parameters and buffers (BatchNorm's running statistics) to every rank, so that all start
  // from the same state (after building the model, and after loading a checkpoint).
  void broadcast_state(Module& model);
  // After backward: sums the gradients over the ranks, bucket by bucket.
  void sum_gradients();
  // The mean of the ranks' `value`s (a loss: non-finite when any rank's is).
  double mean(double value);
  // RankSum: the ranks' sum of every element of `values` (on the parameters' device), and the sum of
  // the ranks' batches (one message in the step's first synchronised BatchNorm, kept until sum_gradients:
  // a rank's batch can be shorter than the others' when it skipped a bad image).
  void sum(Tensor& values) override;
  int64_t global_batch(int64_t local_batch) override;
  // True on every rank when `local` is true on any: a stop (Ctrl-C) or a decision all ranks must share.
  bool any(bool local);
  // Seconds spent in sum_gradients so far (copies into the buckets and the all-reduce, waiting for the
  // slowest rank included): the communication's share of training.
  double seconds_summing() const { return seconds_summing_; }

 private:
  Communicator& communicator_;
  struct Bucket {
    Tensor flat;                     // on the parameters' device
    std::vector<Parameter*> params;  // in flat's order
  };
  std::vector<Bucket> buckets_;
  double seconds_summing_ = 0;
  int64_t step_local_batch_ = 0, step_global_batch_ = 0;  // 0: not yet summed this step
};

}  // namespace keynet::train
