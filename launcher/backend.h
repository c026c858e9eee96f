// --backend NAME and --dtype -> the backend a rank computes on; a clear error
// when this build or this node cannot run it.
#pragma once

#include <memory>
#include <string>

#include "kernels/backend.h"

namespace farm::launcher {

// Checks the names and that this build has the backend (no device touched):
// cpu, ref, cuda (a GPU), cuda-emu (the CUDA path on the SIMT emulator, any
// machine; slow, for checking); dtype "" (the backend's own: f32 on the
// host, f16 on CUDA), f32 or bf16 on cpu, f32 on ref, f16 or bf16 on CUDA.
void check_backend(const std::string& name, const std::string& dtype);

// Whether `--backend cpu --dtype bf16` gets bf16 compute on this machine (a
// CPU with AMX; FARM_CPU_BF16=portable forces the slow portable kernel). If
// not, make_backend gives the fp32 cpu backend and says so on stderr.
bool cpu_bf16_available();

// The backend for rank `local_rank` of the `local_ranks` ranks on this node:
// on CUDA, GPU number local_rank — or GPU 0 when the launcher gave each task
// one visible device (Slurm's --gpus-per-task binding). Fails naming the host
// when the node has fewer GPUs than ranks.
std::unique_ptr<kernels::Backend> make_backend(const std::string& name, const std::string& dtype, int local_rank,
                                               int local_ranks, const std::string& host);

// Gives each of `ranks_on_node` ranks sharing this node an even share of its
// cores as OpenMP threads (at least one), unless OMP_NUM_THREADS is set.
// `farm render` applies it per node; `farm plan --calibrate` with --ranks, so
// the block times it measures are those of a rank of that render. Returns
// the thread count now in force.
int share_cores_among_ranks(int ranks_on_node);

}  // namespace farm::launcher
