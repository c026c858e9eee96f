// NcclLink: the CUDA backend's TensorLink (kernels/tensor_link.h). Device
// tensors go GPU to GPU with ncclSend/ncclRecv; no byte visits the host.
//
// One 2-rank NCCL communicator and one non-blocking stream per directed edge
// (from is NCCL rank 0, to is rank 1). NCCL point-to-point is blocking on the
// device, so one stream per rank around a ring could deadlock (each rank's
// stream stuck in its send, no receive behind them ever runs); with a stream
// per edge a rank's receive never queues behind its own send, and every
// send waits only on compute queued before it (events), so the device
// dependencies follow the order things were queued in and cannot cycle.
//
//   send: event on the compute stream -> the edge's stream waits on it ->
//         ncclSend of each tensor (one group) -> a `done` event. The tensors
//         are held until `done` completes, so their blocks cannot return to
//         the allocator (and be rewritten) while NCCL still reads them.
//   recv: tensors from the backend's allocator (stream-ordered on the
//         compute stream) -> event -> the edge's stream waits on it ->
//         ncclRecv of each (one group) -> event -> the compute stream waits
//         on it. The host never waits.
//
// Built from one source twice, like the backend: against NCCL and libcudart
// (kernels_cuda, when NCCL is found) and against the emulated runtime and
// the NCCL shim over MPI (kernels/emu/nccl, when MPI is found), so ctest
// runs this very code.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>
#include <string>
#include <vector>

#include "kernels/tensor_link.h"

namespace farm::kernels::cuda_detail {

class CachingAllocator;

// Collective over every rank (all_gather). `stream` is the backend's compute
// stream, `alloc` its allocator; `where` names the rank for messages.
std::unique_ptr<TensorLink> make_nccl_link(int rank, const std::vector<LinkEdge>& edges,
                                           const AllGather& all_gather, cudaStream_t stream,
                                           std::shared_ptr<CachingAllocator> alloc, Device device,
                                           const std::string& where);

}  // namespace farm::kernels::cuda_detail
