// The SIMT emulator's entry header: compile a CUDA source on the CPU with
//   g++ -x c++ -std=c++20 -isystem kernels/emu/include -include kernels/emu/emu.h k.cu
// (CMake: farm_emu_sources() in kernels/emu/CMakeLists.txt). No CUDA toolkit is
// needed: kernels/emu/include has the emulator's own CUDA headers. Kernel
// sources include kernels/emu/cuda_compat.h, which picks nvcc or this header.
// What the emulator cannot see: kernels/emu/LIMITS.md.
#pragma once

#include "kernels/emu/cuda_headers.h"  // first: keyword macros, then the emulator's CUDA headers

#include "kernels/emu/async_copy.h"
#include "kernels/emu/atomics.h"
#include "kernels/emu/half_intrinsics.h"
#include "kernels/emu/launch.h"
#include "kernels/emu/math_intrinsics.h"
#include "kernels/emu/options.h"
#include "kernels/emu/runtime_templates.h"
#include "kernels/emu/sync.h"
#include "kernels/emu/thread_state.h"
#include "kernels/emu/warp_matrix.h"
#include "kernels/emu/wmma.h"

// CUDA's built-in variables, per fiber. Macros: defined after the headers
// above, which must not see them.
#define threadIdx (::farm::emu::this_thread().idx)
#define blockIdx (::farm::emu::this_block().idx)
#define blockDim (::farm::emu::this_block().launch->block)
#define gridDim (::farm::emu::this_block().launch->grid)
#define warpSize (::farm::emu::warp_size())

// kernel<<<grid, block, smem, stream>>>(args...). For a template kernel whose
// name holds commas, name it through a pointer first:
//   auto* k = &gemm<64, 64>;  FARM_LAUNCH(k, ...)
#define FARM_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::farm::emu::launch(#kernel, __FILE__, __LINE__, kernel, grid, block, smem, stream __VA_OPT__(, ) __VA_ARGS__)

// extern __shared__ cannot be emulated; this declares `T* name` pointing at
// the launch's dynamic shared memory (exact size, 256-byte aligned).
#define FARM_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::farm::emu::dynamic_shared_memory())
