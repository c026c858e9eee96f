// What the emulated CUDA runtime was asked to do, counted as it happens: the
// independent witness tests use to prove a device-resident path stays on the
// device (bytes across the host boundary, device allocations, device-wide
// synchronisations, launches). Process-wide; read deltas around the work.
#pragma once

#include <cstdint>

namespace farm::emu {

struct RuntimeCounters {
  int64_t h2d_bytes = 0, d2h_bytes = 0, d2d_bytes = 0;
  int64_t device_allocations = 0, device_frees = 0;  // cudaMalloc(Async) / cudaFree(Async)
  int64_t host_allocations = 0;                      // cudaMallocHost (pinned)
  int64_t device_syncs = 0;                          // cudaDeviceSynchronize
  int64_t stream_syncs = 0;                          // cudaStreamSynchronize, cudaEventSynchronize
  int64_t launches = 0;                              // kernels launched from the host
};

RuntimeCounters runtime_counters();

}  // namespace farm::emu
