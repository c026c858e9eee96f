// The host backend: host fp32 tensors, every op through an fp32 kernel table.
// The few ops the table does not have (nearest resize to any size, the
// per-channel time-embedding add, the token-embedding gather) are plain loops
// here, the same for ref and cpu, so the CPU path's bits do not change.
#include "kernels/host/host_backend.h"

namespace farm::kernels {

DeviceCounters DeviceCounters::operator-(const DeviceCounters& o) const {
  return {h2d_bytes - o.h2d_bytes, d2h_bytes - o.d2h_bytes, allocations - o.allocations,
          syncs - o.syncs,         stream_syncs - o.stream_syncs, launches - o.launches};
}

std::unique_ptr<Backend> make_host_backend(const Ops& ops) { return std::make_unique<HostBackend>(ops); }

Backend& ref_backend() {
  static HostBackend b(ref_ops());
  return b;
}

Backend& cpu_backend() {
  static HostBackend b(cpu_ops());
  return b;
}

}  // namespace farm::kernels
