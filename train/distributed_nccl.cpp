// NCCL for CUDA ranks (built in CUDA builds that find NCCL): one GPU per rank, the gradients summed on
// the device with ncclAllReduce on the default stream (the one our kernels use), so no copy goes through
// the host. The communicator's unique id travels from rank 0 by MPI; a single rank makes its own.
#include <cuda_runtime.h>
#include <nccl.h>

#include "tensor/error.h"
#include "train/distributed_backends.h"

namespace keynet::train::backends {

namespace {

void check(ncclResult_t result, const char* what) {
  KEYNET_CHECK(result == ncclSuccess, "NCCL ", what, " failed: ", ncclGetErrorString(result));
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(int rank, int size, const ncclUniqueId& id) : rank_(rank), size_(size) {
    check(ncclCommInitRank(&comm_, size, id, rank), "communicator setup (ncclCommInitRank)");
  }
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }

  void all_reduce_sum(float* data, int64_t count, Device device) override {
    KEYNET_CHECK(device == Device::CUDA, "NCCL sums device buffers; this one is on the ", to_string(device));
    check(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat, ncclSum, comm_, cudaStreamLegacy),
          "all-reduce");
    KEYNET_CHECK(cudaStreamSynchronize(cudaStreamLegacy) == cudaSuccess, "NCCL all-reduce: the device failed");
  }

  void broadcast(float* data, int64_t count, Device device, int root) override {
    KEYNET_CHECK(device == Device::CUDA, "NCCL broadcasts device buffers; this one is on the ", to_string(device));
    check(ncclBroadcast(data, data, static_cast<size_t>(count), ncclFloat, root, comm_, cudaStreamLegacy),
          "broadcast");
    KEYNET_CHECK(cudaStreamSynchronize(cudaStreamLegacy) == cudaSuccess, "NCCL broadcast: the device failed");
  }

 private:
  int rank_, size_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const World& world) {
  ncclUniqueId id{};
  if (world.rank == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  if (world.size > 1) {
#if KEYNET_WITH_MPI
    mpi_broadcast_bytes(&id, sizeof id, 0);
#else
    KEYNET_FAIL("NCCL over ", world.size, " ranks needs MPI to pass its unique id; this build has no MPI");
#endif
  }
  return std::make_unique<NcclCommunicator>(world.rank, world.size, id);
}

}  // namespace keynet::train::backends
