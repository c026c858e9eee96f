// The device-resident CUDA backend (kernels/backend.h): one per rank, on the
// rank's own GPU. Weights are converted to f16/bf16 and uploaded once;
// activations live in device memory from a caching, stream-ordered
// allocator; every op launches on the rank's one stream with no host
// synchronisation; only `to_host` waits (for the stream, never the device).
// Built twice from one source, like the kernels: make_cuda_backend in
// kernels_cuda (nvcc, a GPU), make_cuda_emu_backend in kernels_cuda_emu (the
// SIMT emulator, any machine; its counters come from the emulated runtime).
#pragma once

#include <memory>
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_common.h"

namespace farm::kernels {

// The backend of rank `local_rank` of the `local_ranks` ranks on this node
// (`host`, for messages): it owns GPU number local_rank — or GPU 0 when the
// launcher gave each task one visible device (CUDA_VISIBLE_DEVICES, as Slurm's
// --gpus-per-task binding does). Fails naming the host when the node has
// fewer GPUs than ranks, or none.
std::unique_ptr<Backend> make_cuda_backend(cuda::DType dtype, int local_rank, int local_ranks,
                                           const std::string& host);
std::unique_ptr<Backend> make_cuda_emu_backend(cuda::DType dtype, int local_rank, int local_ranks,
                                               const std::string& host);

}  // namespace farm::kernels
