// CUDA's keywords as g++ must see them, then the emulator's own CUDA headers
// (kernels/emu/include: cuda_runtime.h, cuda_fp16.h, cuda_bf16.h with the
// toolkit's names and the subset of its declarations the emulated sources
// use). No CUDA toolkit is needed or used: emulated targets have
// kernels/emu/include on their include path instead of the toolkit's.
#pragma once

#define FARM_EMU 1

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __launch_bounds__(...)
// As the toolkit's crt/host_defines.h spells it for GNU compilers.
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))
// One copy per worker thread; all fibers of a block run on one worker.
#define __shared__ static thread_local

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#if !defined(FARM_EMU_OWN_CUDA_HEADERS)
#error "kernels/emu: <cuda_runtime.h> resolved to the CUDA toolkit's; emulated targets must get kernels/emu/include (link farm_emu) and not the toolkit's include directory"
#endif

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
