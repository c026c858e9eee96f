// Index-driven ops that model code used to run as host loops: the token
// embedding gather, nearest resize to any size, and the per-sample channel
// bias (a resnet's time embedding) added in place. Plain header.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

// y[b, t, :] = tokens[ids[b·L + t], :] + positions[t, :]; ids: device int32 [batch·L];
// positions null: none (rotary models).
void invoke_embed_tokens(int64_t batch, int64_t len, int64_t dim, const int32_t* ids, const void* tokens,
                         const void* positions, void* y, DType dtype, cudaStream_t stream);
// x[B, H, W, C] -> y[B, Ho, Wo, C], source index floor(i · (H/Ho)) in fp32, as torch's "nearest".
void invoke_upsample_nearest(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow, const void* x,
                             void* y, DType dtype, cudaStream_t stream);
// h[b, i, c] += v[b, c] for h [batch, pixels, channels], in place.
void invoke_add_channel_bias(int64_t batch, int64_t pixels, int64_t channels, void* h, const void* v, DType dtype,
                             cudaStream_t stream);

FARM_CUDA_NAMESPACE_END
