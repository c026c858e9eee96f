// fp32 <-> the 16-bit storage types' bit patterns (round to nearest even),
// for host code that stages buffers to and from the device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

inline uint16_t to_bits(float v, DType dtype) {
  if (dtype == DType::f16) return static_cast<__half_raw>(__float2half_rn(v)).x;
  return static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(v)).x;
}

inline float from_bits(uint16_t bits, DType dtype) {
  if (dtype == DType::f16) {
    __half_raw r;
    r.x = bits;
    return __half2float(__half(r));
  }
  __nv_bfloat16_raw r;
  r.x = bits;
  return __bfloat162float(__nv_bfloat16(r));
}

FARM_CUDA_NAMESPACE_END
