#include "launcher/backend.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "farm/core/error.h"
#include "kernels/cpu/bf16_gemm.h"
#include "kernels/cuda/cuda_backend.h"

namespace farm::launcher {

void check_backend(const std::string& name, const std::string& dtype) {
  if (!dtype.empty() && dtype != "f32" && dtype != "f16" && dtype != "bf16")
    fail("--dtype '", dtype, "' is unknown (f32, f16, bf16)");
  if (name == "cpu" || name == "ref") {
    if (dtype == "f16") fail("--dtype f16: the ", name, " backend computes in f32", name == "cpu" ? " or bf16" : "");
    if (name == "ref" && dtype == "bf16") fail("--dtype bf16: the ref backend computes in f32 (use --backend cpu)");
    return;
  }
  if (name != "cuda" && name != "cuda-bf16" && name != "cuda-emu")
    fail("--backend '", name, "' is unknown (cpu, ref, cuda, cuda-emu)");
  if (dtype == "f32") fail("--dtype f32: the ", name, " backend computes in f16 or bf16");
#ifndef FARM_CUDA_BACKEND
  if (name != "cuda-emu") fail("--backend ", name, ": this build has no CUDA backend (configured with FARM_CUDA=OFF)");
#endif
#ifndef FARM_CUDA_EMU_BACKEND
  if (name == "cuda-emu") fail("--backend cuda-emu: this build has no SIMT emulator");
#endif
}

std::unique_ptr<kernels::Backend> make_backend(const std::string& name, const std::string& dtype, int local_rank,
                                               int local_ranks, const std::string& host) {
  check_backend(name, dtype);
  if (name == "cpu" && dtype == "bf16") {
    if (cpu_bf16_available()) return kernels::make_cpu_bf16_backend();
    static std::atomic_flag said;  // once per process (ranks in threads share it)
    if (!said.test_and_set())
      std::fprintf(stderr, "farm: --dtype bf16: this CPU has no AMX bf16 tiles; computing in f32\n");
  }
  if (name == "cpu") return kernels::make_host_backend(kernels::cpu_ops());
  if (name == "ref") return kernels::make_host_backend(kernels::ref_ops());
  // cuda-bf16: the name earlier releases used for --backend cuda --dtype bf16.
  const auto dt = dtype == "bf16" || name == "cuda-bf16" ? kernels::cuda::DType::bf16 : kernels::cuda::DType::f16;
  try {
#ifdef FARM_CUDA_EMU_BACKEND
    if (name == "cuda-emu") return kernels::make_cuda_emu_backend(dt, local_rank, local_ranks, host);
#endif
#ifdef FARM_CUDA_BACKEND
    return kernels::make_cuda_backend(dt, local_rank, local_ranks, host);
#endif
  } catch (const Error& e) {
    fail("--backend ", name, ": ", e.what());
  }
  FARM_ASSERT(false, "backend ", name, " passed check_backend but is not built");
  (void)dt, (void)local_rank, (void)local_ranks, (void)host;
  return nullptr;
}

bool cpu_bf16_available() {
  const char* env = std::getenv("FARM_CPU_BF16");
  return kernels::cpu::amx_available() || (env && std::string(env) == "portable");
}

int share_cores_among_ranks(int ranks_on_node) {
  if (!std::getenv("OMP_NUM_THREADS") && ranks_on_node > 1)
    omp_set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / ranks_on_node));
  return omp_get_max_threads();
}

}  // namespace farm::launcher
