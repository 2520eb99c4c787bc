// What train/distributed.cpp calls in the optional backends: train/distributed_mpi.cpp (KEYNET_WITH_MPI)
// and train/distributed_nccl.cpp (KEYNET_WITH_NCCL). Only compiled-in backends are called.
#pragma once
#include <memory>

#include "train/distributed.h"

namespace keynet::train::backends {

World start_mpi();  // MPI_Init_thread; MPI_Finalize at exit
std::unique_ptr<Communicator> make_mpi_communicator();
void mpi_abort(int code);
void mpi_barrier();
void mpi_broadcast_bytes(void* data, int bytes, int root);

// NCCL over the world's ranks (the unique id broadcast with MPI when there are several), one GPU each.
std::unique_ptr<Communicator> make_nccl_communicator(const World& world);

}  // namespace keynet::train::backends
