// NCCL for CUDA ranks (built in CUDA builds that find NCCL): one GPU per rank, the gradients summed on
// the device with ncclAllReduce on the default stream (the one our kernels use), so no copy goes through
// the host. The communicator's unique id travels from rank 0 by MPI; a single rank makes its own.
// A collective that does not finish (a rank gone or stuck) must not hang the others: each wait polls
// the stream and NCCL's asynchronous error, and after KEYNET_NCCL_TIMEOUT seconds (default 300) aborts
// the communicator (ncclCommAbort, as PyTorch's watchdog does) and fails with a clear message.
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "tensor/error.h"
#include "train/distributed_backends.h"

namespace keynet::train::backends {

namespace {

void check(ncclResult_t result, const char* what) {
  KEYNET_CHECK(result == ncclSuccess, "NCCL ", what, " failed: ", ncclGetErrorString(result));
}

double timeout_seconds() {
  const char* text = std::getenv("KEYNET_NCCL_TIMEOUT");
  if (text == nullptr || *text == '\0') return 300;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  KEYNET_CHECK(*end == '\0' && seconds > 0, "KEYNET_NCCL_TIMEOUT must be a positive number of seconds, not '", text,
               "'");
  return seconds;
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(int rank, int size, const ncclUniqueId& id)
      : rank_(rank), size_(size), timeout_seconds_(timeout_seconds()) {
    check(ncclCommInitRank(&comm_, size, id, rank), "communicator setup (ncclCommInitRank)");
  }
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }

  void all_reduce_sum(float* data, int64_t count, Device device) override {
    KEYNET_CHECK(device == Device::CUDA, "NCCL sums device buffers; this one is on the ", to_string(device));
    KEYNET_CHECK(comm_ != nullptr, "NCCL all-reduce: the communicator was aborted after an earlier failure");
    check(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat, ncclSum, comm_, cudaStreamLegacy),
          "all-reduce");
    wait("all-reduce");
  }

  void broadcast(float* data, int64_t count, Device device, int root) override {
    KEYNET_CHECK(device == Device::CUDA, "NCCL broadcasts device buffers; this one is on the ", to_string(device));
    KEYNET_CHECK(comm_ != nullptr, "NCCL broadcast: the communicator was aborted after an earlier failure");
    check(ncclBroadcast(data, data, static_cast<size_t>(count), ncclFloat, root, comm_, cudaStreamLegacy),
          "broadcast");
    wait("broadcast");
  }

 private:
  // Until the stream has run the collective: a failure NCCL reports, or the timeout, aborts the
  // communicator (its kernels end) and fails naming this rank.
  void wait(const char* what) {
    const auto start = std::chrono::steady_clock::now();
    auto pause = std::chrono::microseconds(20);
    for (;;) {
      const cudaError_t state = cudaStreamQuery(cudaStreamLegacy);
      if (state == cudaSuccess) return;
      KEYNET_CHECK(state == cudaErrorNotReady, "NCCL ", what, ": the device failed: ", cudaGetErrorString(state));
      ncclResult_t async = ncclSuccess;
      check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
      if (async != ncclSuccess && async != ncclInProgress)
        abort_and_fail(what, std::string("NCCL reported ") + ncclGetErrorString(async));
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_seconds_)
        abort_and_fail(what, "not finished after " + std::to_string(static_cast<long>(waited)) +
                                 " s (KEYNET_NCCL_TIMEOUT); another rank is gone or stuck");
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(200));  // a short collective stays short
    }
  }

  [[noreturn]] void abort_and_fail(const char* what, const std::string& why) {
    ncclCommAbort(comm_);
    comm_ = nullptr;
    KEYNET_FAIL("NCCL ", what, " on rank ", rank_, " of ", size_, ": ", why, "; the communicator was aborted");
  }

  int rank_, size_;
  double timeout_seconds_;
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
