// NHWC fp16/bf16 convolution through cuDNN: the library alternative to the
// hand-written invoke_conv2d (same Conv2dParams, same result up to rounding).
//
// NOT BATCH-INVARIANT: cuDNN picks its algorithm (and so its reduction
// order) from heuristics that see the batch size. ARCHITECTURE.md allows
// such a path only in an explicit fast mode; kernels/cuda/autotune.h is the
// one place that chooses it, and only when told to. Plain header.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "kernels/cuda/conv2d.h"

FARM_CUDA_NAMESPACE_BEGIN

// Whether this build links cuDNN (found in the CUDA install at configure time).
bool cudnn_built();
// "cuDNN 9.19.0 (runtime 91900)", or why there is none.
std::string cudnn_description();

// y = conv(x, w) + bias (+ residual), as invoke_conv2d. Bias is fused by
// cudnnConvolutionBiasActivationForward (identity activation, residual as its
// `z` input with alpha2 = 1) where cuDNN supports the configuration, else
// cudnnConvolutionForward (residual through beta = 1) and cudnnAddTensor for
// the bias. Returns "" on success, or why cuDNN cannot run this shape/dtype
// (y is unspecified then). CUDA errors abort, as FARM_CHECK_CUDA does.
std::string invoke_conv2d_cudnn(const Conv2dParams& p, cudaStream_t stream);

FARM_CUDA_NAMESPACE_END
