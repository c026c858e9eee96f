#include "launcher/backend.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "farm/core/error.h"
#ifdef FARM_CUDA_BACKEND
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_ops.h"
#endif

namespace farm::launcher {

const kernels::Ops* select_backend(const std::string& name) {
  if (name == "cpu") return &kernels::cpu_ops();
  if (name == "ref") return &kernels::ref_ops();
  if (name == "cuda" || name == "cuda-bf16") {
#ifdef FARM_CUDA_BACKEND
    int devices = 0;
    if (const cudaError_t e = cudaGetDeviceCount(&devices); e != cudaSuccess || devices == 0)
      fail("--backend ", name, ": no CUDA device found (cudaGetDeviceCount: ",
           e != cudaSuccess ? cudaGetErrorString(e) : "0 devices", ")");
    return &kernels::cuda_ops(name == "cuda" ? kernels::cuda::DType::f16 : kernels::cuda::DType::bf16);
#else
    fail("--backend ", name, ": this build has no CUDA backend (configured with FARM_CUDA=OFF)");
#endif
  }
  fail("--backend '", name, "' is unknown (cpu, ref, cuda, cuda-bf16)");
}

int share_cores_among_ranks(int ranks_on_node) {
  if (!std::getenv("OMP_NUM_THREADS") && ranks_on_node > 1)
    omp_set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / ranks_on_node));
  return omp_get_max_threads();
}

}  // namespace farm::launcher
