// Shared by the launcher headers of kernels/cuda, which plain C++ includes:
// the element type of device tensors and the namespace of the launchers.
//
// The same .cu files build twice: with nvcc into kernels_cuda (real GPU) and
// with g++ through the SIMT emulator into kernels_cuda_emu (CPU, for tests).
// Both define the same functions; an inline namespace keeps the two sets
// apart so a binary that links both cannot silently get the wrong one.
#pragma once

#include <cstdint>

#if defined(FARM_CUDA_EMULATED)
#define FARM_CUDA_NAMESPACE_BEGIN \
  namespace farm::kernels::cuda { \
  inline namespace emulated {
#else
#define FARM_CUDA_NAMESPACE_BEGIN \
  namespace farm::kernels::cuda { \
  inline namespace device {
#endif
#define FARM_CUDA_NAMESPACE_END \
  }                             \
  }

namespace farm::kernels::cuda {

// 16-bit storage type of activations and weights; kernels accumulate in fp32.
// Outside the inline namespaces: the same type for both builds.
enum class DType : uint8_t { f16, bf16 };

inline const char* dtype_name(DType t) { return t == DType::f16 ? "f16" : "bf16"; }

}  // namespace farm::kernels::cuda
