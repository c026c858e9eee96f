// Shared by the one-element-per-thread kernels (elementwise.cu, gather.cu):
// grid-stride loops over n elements and the 16-bit storage type switch.
// Include after kernels/emu/cuda_compat.h.
#pragma once

#include "kernels/cuda/cuda_common.h"

namespace farm::kernels::cuda_device {

constexpr int kGridThreads = 256;
constexpr int64_t kMaxGridBlocks = 4096;

inline dim3 grid_for(int64_t n) {
  const int64_t blocks = (n + kGridThreads - 1) / kGridThreads;
  return dim3(static_cast<unsigned>(blocks < kMaxGridBlocks ? blocks : kMaxGridBlocks));
}

__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Calls f(T{}) with T the storage type of `dtype`.
template <class F>
void with_type(cuda::DType dtype, F&& f) {
  if (dtype == cuda::DType::f16)
    f(__half{});
  else
    f(__nv_bfloat16{});
}

}  // namespace farm::kernels::cuda_device
