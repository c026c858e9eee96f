#include "partition/device_profile.h"

#include "farm/core/error.h"

namespace farm::partition {

namespace {

// Figures are per stage rank and deliberately round: a plan needs the ratio
// of compute to traffic right, not the third digit. `farm plan --calibrate`
// replaces the FLOP-based block times with measured ones.
const std::vector<DeviceProfile>& profiles() {
  static const std::vector<DeviceProfile> p = {
      // One CPU core per rank (OpenBLAS sgemm, AVX2/AVX-512 fp32): ~50 GFLOP/s
      // sustained over SD's conv/linear mix. `farm plan --calibrate` with
      // OMP_NUM_THREADS=1 on one AVX-512 (Skylake-X) core of the development
      // machine measured 69 GFLOP/s for SD 1.5's UNet and VAE at 256×256, so
      // 50 is on the safe side for AVX2 cores. Ranks on one node talk through
      // shared memory (MPI vader/CMA): ~5 GB/s per copy, ~5 us per message;
      // the copy is done by the CPU, so it does not overlap compute.
      {.name = "cpu", .flops = 50e9, .memory_bytes = 16e9, .link_bytes_per_s = 5e9, .link_latency_s = 5e-6,
       .element_bytes = 4, .overlap_transfers = false},
      // A100 SXM 80 GB: 312 TFLOP/s dense fp16 tensor-core peak (NVIDIA A100
      // datasheet). The figure is what farm's own device-resident path
      // (--backend cuda: hand-written wmma implicit-GEMM conv and flash
      // attention, cuBLAS linear, unfused norms and elementwise ops, one
      // stream) is modelled to sustain over SD's op mix: 7.5 % of peak, about
      // 14 it/s for SD 1.5 at 512x512 with CFG — not TensorRT's ~60 it/s
      // (~30 % of peak). No GPU has measured it yet: tools/gpu/check.sh prints
      // the measured share of peak; put that here when it has run. NVLink 3:
      // 600 GB/s total, 300 GB/s per direction (datasheet); NCCL p2p reaches
      // ~80% of it -> 240e9. Latency ~10 us per NCCL send/recv.
      {.name = "a100", .flops = 0.075 * 312e12, .memory_bytes = 80e9, .link_bytes_per_s = 240e9,
       .link_latency_s = 10e-6, .element_bytes = 2, .overlap_transfers = true},
      // H100 SXM 80 GB: 989 TFLOP/s dense fp16 (datasheet, without sparsity);
      // the same 7.5 % as the A100 (the kernels use no Hopper-only features).
      // NVLink 4: 900 GB/s total, 450 GB/s per direction; ~80% via NCCL -> 360e9.
      // Latency ~10 us.
      {.name = "h100", .flops = 0.075 * 989e12, .memory_bytes = 80e9, .link_bytes_per_s = 360e9,
       .link_latency_s = 10e-6, .element_bytes = 2, .overlap_transfers = true},
  };
  return p;
}

}  // namespace

std::vector<std::string> device_profile_names() {
  std::vector<std::string> names;
  for (const auto& p : profiles()) names.push_back(p.name);
  return names;
}

const DeviceProfile& device_profile(const std::string& name) {
  std::string known;
  for (const auto& p : profiles()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  fail("device '", name, "' is unknown (", known, ")");
}

}  // namespace farm::partition
