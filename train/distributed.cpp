// Data-parallel training: the world (MPI when launched by mpirun), the communicators, and the gradient
// buckets. See train/distributed.h.
#include "train/distributed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/cpu/threads.h"
#include "tensor/error.h"
#include "train/distributed_backends.h"

#ifndef KEYNET_WITH_MPI
#define KEYNET_WITH_MPI 0
#endif
#ifndef KEYNET_WITH_NCCL
#define KEYNET_WITH_NCCL 0
#endif

namespace keynet::train {

namespace {

// Launchers set these in every rank's environment: OpenMPI, then PMIx and PMI (MPICH, Slurm).
bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

World find_world() {
  World w;
  if (!launched_by_mpirun()) return w;
#if KEYNET_WITH_MPI
  w = backends::start_mpi();
  // The cores of a machine shared by its ranks, unless KEYNET_THREADS says otherwise.
  if (w.local_size > 1 && !std::getenv("KEYNET_THREADS")) set_cpu_threads(std::max(1, cpu_threads() / w.local_size));
#else
  std::fprintf(stderr, "keynet: started by an MPI launcher, but built without MPI (KEYNET_MPI): each process "
                       "trains alone\n");
#endif
  return w;
}

}  // namespace

const World& world() {
  static const World found = find_world();
  return found;
}

bool built_with_nccl() { return KEYNET_WITH_NCCL != 0; }

std::unique_ptr<Communicator> make_communicator(Device device) {
  const World& w = world();
  if (w.size == 1) return nullptr;
#if KEYNET_WITH_NCCL
  if (device == Device::CUDA) return backends::make_nccl_communicator(w);
#endif
#if KEYNET_WITH_MPI
  (void)device;
  return backends::make_mpi_communicator();
#else
  (void)device;
  return nullptr;
#endif
}

std::unique_ptr<Communicator> make_single_rank_nccl() {
#if KEYNET_WITH_NCCL
  return backends::make_nccl_communicator(World{});
#else
  KEYNET_FAIL("this build has no NCCL (it is built with CUDA when NCCL is found)");
#endif
}

void abort_all_ranks(int code) {
#if KEYNET_WITH_MPI
  if (world().mpi && world().size > 1) backends::mpi_abort(code);
#endif
  (void)code;
}

void barrier() {
#if KEYNET_WITH_MPI
  if (world().mpi && world().size > 1) backends::mpi_barrier();
#endif
}

DataParallel::DataParallel(Communicator& communicator, Module& model, int64_t bucket_bytes)
    : communicator_(communicator) {
  const int64_t bucket_floats = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  std::vector<Parameter*> params;
  for (const auto& [name, param] : named_parameters(model)) {
    KEYNET_CHECK(param->value.dtype() == DType::F32, "data-parallel training sums float32 gradients; ", name,
                 " is not float32");
    params.push_back(param);
  }
  // Buckets in reverse order, as backward produces the gradients (a later version can overlap them).
  Bucket bucket;
  int64_t filled = 0;
  auto close = [&] {
    if (bucket.params.empty()) return;
    bucket.flat = Tensor::empty({filled}, bucket.params.front()->value.device());
    buckets_.push_back(std::move(bucket));
    bucket = {};
    filled = 0;
  };
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (filled > 0 && filled + (*it)->grad.numel() > bucket_floats) close();
    bucket.params.push_back(*it);
    filled += (*it)->grad.numel();
  }
  close();
}

void DataParallel::broadcast_state(Module& model) {
  for (const auto& [name, param] : named_parameters(model))
    communicator_.broadcast(param->value.data<float>(), param->value.numel(), param->value.device(), 0);
  for (const auto& [name, buffer] : named_buffers(model)) {
    if (buffer->dtype() != DType::F32) continue;  // counters (num_batches_tracked) are the same on every rank
    communicator_.broadcast(buffer->data<float>(), buffer->numel(), buffer->device(), 0);
  }
}

void DataParallel::sum_gradients() {
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) {
    int64_t offset = 0;
    for (Parameter* p : bucket.params) {
      bucket.flat.view(offset, p->grad.shape()).copy_from(p->grad);
      offset += p->grad.numel();
    }
    communicator_.all_reduce_sum(bucket.flat.data<float>(), bucket.flat.numel(), bucket.flat.device());
    offset = 0;
    for (Parameter* p : bucket.params) {
      p->grad.copy_from(bucket.flat.view(offset, p->grad.shape()));
      offset += p->grad.numel();
    }
  }
  seconds_summing_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  step_global_batch_ = 0;  // the next step's batches may differ
}

double DataParallel::mean(double value) {
  // Host values travel through a device buffer for NCCL.
  Tensor one = Tensor::from_vector({1}, std::vector<float>{static_cast<float>(value)});
  const Device device = buckets_.empty() ? Device::CPU : buckets_.front().flat.device();
  Tensor there = one.to(device);
  communicator_.all_reduce_sum(there.data<float>(), 1, device);
  return static_cast<double>(there.to(Device::CPU).data<float>()[0]) / size();
}

void DataParallel::sum(Tensor& values) {
  communicator_.all_reduce_sum(values.data<float>(), values.numel(), values.device());
}

int64_t DataParallel::global_batch(int64_t local_batch) {
  if (step_global_batch_ == 0) {
    step_local_batch_ = local_batch;
    step_global_batch_ = std::llround(mean(static_cast<double>(local_batch)) * size());
  }
  KEYNET_CHECK(local_batch == step_local_batch_, "a synchronised BatchNorm saw a batch of ", local_batch,
               " in a step whose batch is ", step_local_batch_);
  return step_global_batch_;
}

bool DataParallel::any(bool local) { return mean(local ? 1.0 : 0.0) > 0; }

}  // namespace keynet::train
