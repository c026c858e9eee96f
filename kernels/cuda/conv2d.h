// Implicit-GEMM NHWC convolution on tensor cores (wmma), with the bias and an
// optional residual fused into the epilogue. Plain header.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

// Device pointers to `dtype` elements:
// y[B,Ho,Wo,Cout] = conv(x[B,H,W,Cin], w[Cout,k,k,Cin]) + bias[Cout] (+ residual[B,Ho,Wo,Cout]).
// bias and residual may be null. Any kernel/stride/pad; SD uses 3x3 s1/s2 p1 and 1x1.
struct Conv2dParams {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  void* y = nullptr;
  int64_t batch = 1, in_h = 0, in_w = 0, in_c = 0, out_c = 0;
  int kernel = 3, stride = 1, pad = 1;
  DType dtype = DType::f16;
  int64_t out_h() const { return (in_h + 2 * pad - kernel) / stride + 1; }
  int64_t out_w() const { return (in_w + 2 * pad - kernel) / stride + 1; }
};

void invoke_conv2d(const Conv2dParams& p, cudaStream_t stream);

FARM_CUDA_NAMESPACE_END
