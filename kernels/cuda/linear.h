// Linear layer y[M, out] = x[M, in] · w[out, in]^T + bias[out] (+ residual[M, out])
// with M = batch · rows, `dtype` device tensors, fp32 accumulation. Plain header.
//
// One entry point, two implementations chosen at link time: kernels_cuda
// (nvcc) runs cuBLAS (linear_cublas.cu); kernels_cuda_emu runs the wmma
// implicit-GEMM kernel of conv2d.cu as a 1x1 convolution (linear_wmma.cpp),
// because the emulator cannot run cuBLAS.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

struct LinearParams {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;      // may be null
  const void* residual = nullptr;  // may be null
  void* y = nullptr;
  int64_t batch = 1, rows = 0, in = 0, out = 0;  // rows per sample
  DType dtype = DType::f16;
};

void invoke_linear(const LinearParams& p, cudaStream_t stream);

FARM_CUDA_NAMESPACE_END
