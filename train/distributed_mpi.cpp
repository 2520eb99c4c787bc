// MPI for data-parallel training (built with KEYNET_MPI): starting and ending MPI, and a Communicator
// whose buffers are summed with MPI_Allreduce on the host (a CUDA rank's buffer is copied through the
// host; NCCL is the device path). Errors are fatal on every rank (MPI's default handler): a rank that
// dies ends the job through mpirun instead of leaving the others waiting.
#include <mpi.h>

#include <cstdlib>
#include <vector>

#include "tensor/cuda_memory.h"
#include "tensor/error.h"
#include "train/distributed_backends.h"

namespace keynet::train::backends {

namespace {

int environment_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

class MpiCommunicator : public Communicator {
 public:
  int rank() const override { return world().rank; }
  int size() const override { return world().size; }
  std::string name() const override { return "mpi"; }

  void all_reduce_sum(float* data, int64_t count, Device device) override {
    KEYNET_CHECK(count <= INT32_MAX, "MPI all-reduce of ", count, " floats: more than one message holds");
    float* host = staged(data, count, device);
    MPI_Allreduce(MPI_IN_PLACE, host, static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    unstage(data, count, device);
  }

  void broadcast(float* data, int64_t count, Device device, int root) override {
    KEYNET_CHECK(count <= INT32_MAX, "MPI broadcast of ", count, " floats: more than one message holds");
    float* host = staged(data, count, device);
    MPI_Bcast(host, static_cast<int>(count), MPI_FLOAT, root, MPI_COMM_WORLD);
    unstage(data, count, device);
  }

 private:
  // A CUDA buffer's host copy (MPI here is not CUDA-aware); a host buffer itself.
  float* staged(float* data, int64_t count, Device device) {
    if (device == Device::CPU) return data;
    host_.resize(static_cast<size_t>(count));
    cuda_memory::copy(host_.data(), Device::CPU, data, device, static_cast<size_t>(count) * sizeof(float));
    return host_.data();
  }
  void unstage(float* data, int64_t count, Device device) {
    if (device != Device::CPU)
      cuda_memory::copy(data, device, host_.data(), Device::CPU, static_cast<size_t>(count) * sizeof(float));
  }
  std::vector<float> host_;
};

}  // namespace

World start_mpi() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);  // MPI is called from the main thread only
  std::atexit(finalize_at_exit);
  World w;
  w.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &w.local_size);
  MPI_Comm_free(&node);
  w.local_size = environment_int("OMPI_COMM_WORLD_LOCAL_SIZE", w.local_size);
  return w;
}

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

void mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void mpi_barrier() { MPI_Barrier(MPI_COMM_WORLD); }

void mpi_broadcast_bytes(void* data, int bytes, int root) { MPI_Bcast(data, bytes, MPI_BYTE, root, MPI_COMM_WORLD); }

}  // namespace keynet::train::backends
