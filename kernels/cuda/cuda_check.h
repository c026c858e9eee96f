// FARM_CHECK_CUDA(call): a failed CUDA runtime call (or launch, checked with
// cudaGetLastError after it) aborts with the statement and file:line. Stays on
// in release builds; kernels/ may include nothing from farm/, so no exception.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>

namespace farm::kernels::cuda_detail {

[[noreturn]] inline void cuda_failed(cudaError_t e, const char* stmt, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: CUDA error %s (%s) in %s\n", file, line, cudaGetErrorName(e),
               cudaGetErrorString(e), stmt);
  std::abort();
}

}  // namespace farm::kernels::cuda_detail

#define FARM_CHECK_CUDA(call)                                                                  \
  do {                                                                                         \
    const cudaError_t farm_cuda_err_ = (call);                                                 \
    if (farm_cuda_err_ != cudaSuccess)                                                         \
      ::farm::kernels::cuda_detail::cuda_failed(farm_cuda_err_, #call, __FILE__, __LINE__);    \
  } while (0)

// After a launch: configuration errors surface through cudaGetLastError.
#define FARM_CHECK_LAUNCH() FARM_CHECK_CUDA(cudaGetLastError())
