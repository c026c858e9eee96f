// Included first by each of the emulator's CUDA headers (no include guard, so
// it checks at every inclusion). The toolkit's headers declare the same names
// with other layouts (cudaDeviceProp, __half): a translation unit that sees
// both would build against one set and link the other's runtime, so a toolkit
// header included before one of these stops the build here, and one included
// after stops it with a redefinition. kernels/emu/cuda_headers.h checks the
// marker below to learn that <cuda_runtime.h> resolved to these headers.
#if defined(__CUDA_RUNTIME_H__) || defined(__CUDA_RUNTIME_API_H__) || defined(__DRIVER_TYPES_H__) || \
    defined(__VECTOR_TYPES_H__) || defined(__CUDA_FP16_H__) || defined(__CUDA_BF16_H__)
#error "kernels/emu/include: the CUDA toolkit's headers are on this file's include path too; emulated targets must use only the emulator's (see kernels/emu/CMakeLists.txt)"
#endif

#define FARM_EMU_OWN_CUDA_HEADERS 1
