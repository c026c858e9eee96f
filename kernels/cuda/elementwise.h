// Memory-bound ops over `dtype` device tensors: activations, add, GEGLU, SwiGLU, RoPE,
// nearest 2x upsample, channel concat, timestep embedding. Plain header.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_common.h"

FARM_CUDA_NAMESPACE_BEGIN

enum class Activation : uint8_t { silu, gelu, quick_gelu };  // gelu: exact (erf)

// y[i] = act(x[i]), n elements; y may alias x.
void invoke_activation(Activation act, int64_t n, const void* x, void* y, DType dtype, cudaStream_t stream);

// y[i] = a[i] + b[i]; y may alias a or b.
void invoke_add(int64_t n, const void* a, const void* b, void* y, DType dtype, cudaStream_t stream);

// x[rows, 2·inner] = [hidden | gate] -> y[rows, inner] = hidden · gelu(gate).
void invoke_geglu(int64_t rows, int64_t inner, const void* x, void* y, DType dtype, cudaStream_t stream);

// x[rows, 2·inner] = [gate | up] -> y[rows, inner] = silu(gate) · up.
void invoke_swiglu(int64_t rows, int64_t inner, const void* x, void* y, DType dtype, cudaStream_t stream);

// Rotary embedding in place on x (`rows` tokens of `heads` heads of head_dim,
// head h of token t at t·stride + h·head_dim) by table: fp32 device
// [rows, head_dim/2, 2] of (cos, sin); pairs (i, i + head_dim/2), or (2i, 2i+1)
// when interleaved. fp32 math, as kernels/ops.h describes.
void invoke_rope(int64_t rows, int64_t heads, int64_t head_dim, int64_t stride, bool interleaved, const float* table,
                 void* x, DType dtype, cudaStream_t stream);

// y[b, i, c] = x[b, i, c] · (1 + scale[b, c]) over [batch, rows, channels]; y may alias x.
void invoke_modulate(int64_t batch, int64_t rows, int64_t channels, const void* x, const void* scale, void* y,
                     DType dtype, cudaStream_t stream);
// h[b, i, c] += tanh(gate[b, c]) · y[b, i, c].
void invoke_gated_residual(int64_t batch, int64_t rows, int64_t channels, const void* gate, const void* y, void* h,
                           DType dtype, cudaStream_t stream);

// x[B, H, W, C] -> y[B, 2H, 2W, C].
void invoke_upsample_nearest2x(int64_t batch, int64_t h, int64_t w, int64_t c, const void* x, void* y,
                               DType dtype, cudaStream_t stream);

// y[B, HW, Ca+Cb] = [a[B, HW, Ca] | b[B, HW, Cb]].
void invoke_concat_channels(int64_t batch, int64_t hw, int64_t ca, const void* a, int64_t cb, const void* b,
                            void* y, DType dtype, cudaStream_t stream);

// DiT patches (kernels/ops.h): image [B, H, W, C] <-> [B, (H/p)(W/p), p·p·C].
void invoke_patchify(int64_t batch, int64_t h, int64_t w, int64_t c, int64_t p, bool inverse, const void* x, void* y,
                     DType dtype, cudaStream_t stream);

// t: fp32 device [batch] -> y [batch, dim] (`dtype`), as kernels/ops.h describes.
void invoke_timestep_embedding(int64_t batch, const float* t, int64_t dim, bool flip_sin_to_cos,
                               float downscale_freq_shift, float max_period, void* y, DType dtype,
                               cudaStream_t stream);

// A decoded image x [n = B·H·W·3] in about [-1,1] -> RGB bytes y[n]:
// round((x / 2 + 0.5).clamp(0, 1) · 255), half to even (as numpy's round).
void invoke_image_to_rgb8(int64_t n, const void* x, uint8_t* y, DType dtype, cudaStream_t stream);

FARM_CUDA_NAMESPACE_END
