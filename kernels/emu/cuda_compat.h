// Include this first in every kernel source (.cu): the same file then
// compiles with nvcc and, on a CPU, with g++ through the SIMT emulator
// (kernels/emu/emu.h). Kernel code uses FARM_LAUNCH instead of <<<>>> and
// FARM_DYNAMIC_SHARED instead of `extern __shared__`.
#pragma once

#if defined(__CUDACC__)

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#define FARM_LAUNCH(kernel, grid, block, smem, stream, ...) kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define FARM_DYNAMIC_SHARED(T, name)                                   \
  extern __shared__ __align__(16) unsigned char farm_dynamic_shared_[]; \
  T* name = reinterpret_cast<T*>(farm_dynamic_shared_)

#else

#include "kernels/emu/emu.h"

#endif
