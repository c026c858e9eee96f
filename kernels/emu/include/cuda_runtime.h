// The emulator's own cuda_runtime.h: the C API of cuda_runtime_api.h plus
// the C++ layer the toolkit's cuda_runtime.h gives every host compiler
// (the typed cudaMalloc, vector constructors). The overloads the
// toolkit declares only for nvcc (kernels and __constant__ symbols taken by
// reference) are in kernels/emu/runtime_templates.h, which only emulated
// kernel sources see, as under nvcc.
#pragma once

#include "farm_emu_headers.h"

#include "cuda_runtime_api.h"

// T** does not convert to void**: the template spares callers the cast.
template <class T>
inline cudaError_t cudaMalloc(T** devPtr, size_t size) {
  return ::cudaMalloc(reinterpret_cast<void**>(devPtr), size);
}
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) { return uint4{x, y, z, w}; }
