// Group norm (+ optional SiLU), layer norm and RMS norm over NHWC / [rows, C] tensors of
// `dtype` elements, statistics in fp32 (mean, then the biased variance from a
// second pass, as kernels/ref). Plain header.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

// x, y: [batch, hw, channels]; gamma, beta: [channels]. y may alias x.
// Statistics per slab of ~8192 elements (two-pass), combined per group in a
// fixed order (norm.cu), so bitwise the same on every run and for any batch.
// Two launches sharing a per-device scratch: group norms on one device must
// be ordered on one stream (as the backend's), never run on two at once.
struct GroupNormParams {
  const void* x = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  void* y = nullptr;
  int64_t batch = 1, hw = 0, channels = 0, groups = 32;
  float eps = 1e-5f;
  bool silu = false;
  DType dtype = DType::f16;
};
void invoke_group_norm(const GroupNormParams& p, cudaStream_t stream);

// x, y: [rows, channels]; gamma, beta: [channels]. y may alias x.
struct LayerNormParams {
  const void* x = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  void* y = nullptr;
  int64_t rows = 0, channels = 0;
  float eps = 1e-5f;
  DType dtype = DType::f16;
};
void invoke_layer_norm(const LayerNormParams& p, cudaStream_t stream);

// RMS norm: y = x · rsqrt(mean(x²) + eps) · gamma over x, y [rows, channels];
// gamma [channels]. y may alias x. One block per row, as layer norm.
struct RmsNormParams {
  const void* x = nullptr;
  const void* gamma = nullptr;
  void* y = nullptr;
  int64_t rows = 0, channels = 0;
  float eps = 1e-6f;
  DType dtype = DType::f16;
};
void invoke_rms_norm(const RmsNormParams& p, cudaStream_t stream);

FARM_CUDA_NAMESPACE_END
